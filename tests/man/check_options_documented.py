#!/usr/bin/env python3
"""The man page and the bash completion describe exactly the options the wsx command has.

For each subcommand, the options its --help lists (short and long) must be the items of that
subcommand's section in the man page ("CONNECT OPTIONS", ...) and, for the long ones, the words
of its case in the completion; an option in the man page or the completion that the command
does not have is reported too (a renamed or removed option must not stay documented). The
top-level options (--version) belong in the man page's SYNOPSIS and in the completion's list
without a subcommand. An option whose --help names a FILE (or DIR) must complete file (or
directory) names when bash runs the completion. The man page must also render without groff
warnings.

usage: check_options_documented.py WSX_BINARY MAN_PAGE COMPLETION ; exit 0 or 1 with a list.
"""
import os
import re
import subprocess
import sys
import tempfile

SUBCOMMANDS = ("connect", "serve", "bench")


def help_options(wsx, *args):
    """Options of `wsx ARGS --help`: the lines that define one start with two spaces and '-'."""
    text = subprocess.run([wsx, *args, "--help"], check=True, capture_output=True,
                          text=True).stdout
    options = set()
    for line in text.splitlines():
        m = re.match(r"  (-[A-Za-z],)?(--[a-z][a-z0-9-]*)", line)
        if m:
            options.add(m.group(2))
            if m.group(1):
                options.add(m.group(1)[:-1])
    options -= {"-h", "--help"}
    if not options and args:
        sys.exit(f"no options found in 'wsx {' '.join(args)} --help'")
    return options


def path_options(wsx, sub):
    """Options of `wsx SUB --help` that take a FILE or a DIR: {option: "FILE" or "DIR"}."""
    text = subprocess.run([wsx, sub, "--help"], check=True, capture_output=True,
                          text=True).stdout
    return {m.group(1): m.group(2) for m in re.finditer(
        r"(?m)^  (?:-[A-Za-z],)?(--[a-z][a-z0-9-]*) (FILE|DIR)\b", text)}


def completion_offers(completion, words):
    """What the completion offers for the last of `words` (the command line being typed), run
    by bash in a directory that holds the file "some.pem" and the directory "somedir"."""
    with tempfile.TemporaryDirectory() as directory:
        open(os.path.join(directory, "some.pem"), "w").close()
        os.mkdir(os.path.join(directory, "somedir"))
        script = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _wsx; '
                  'printf "%s\\n" "${COMPREPLY[@]}"')
        result = subprocess.run(["bash", "-c", script, "bash", os.path.abspath(completion),
                                 *words], cwd=directory, capture_output=True, text=True)
        return set(result.stdout.split())


def man_sections(man_page):
    """Section name -> its lines."""
    sections, name = {}, ""
    for line in open(man_page, encoding="utf-8").read().splitlines():
        if line.startswith(".SH "):
            name = line[4:].strip().strip('"')
            sections[name] = []
        else:
            sections.setdefault(name, []).append(line)
    return sections


def roff_options(lines):
    """Options named in roff text (every '-' written '\\-')."""
    text = " ".join(lines).replace("\\-", "-")
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[A-Za-z])(?![\w-])", text))


def man_items(lines):
    """Options that head an item of a section (the line after each .TP)."""
    return roff_options(lines[i + 1] for i, line in enumerate(lines[:-1]) if line == ".TP")


def completion_words(completion, label):
    """Long options of one case of the completion ("connect)", or '"")' for no subcommand)."""
    lines = open(completion, encoding="utf-8").read().splitlines()
    words, on = set(), False
    for line in lines:
        if line.strip() == label:
            on = True
            continue
        if on:
            words |= set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", line))
            if ";;" in line:
                break
    return words


def main():
    wsx, man_page, completion = sys.argv[1:4]
    problems = []
    sections = man_sections(man_page)
    for sub in SUBCOMMANDS:
        options = help_options(wsx, sub)
        documented = man_items(sections.get(f"{sub.upper()} OPTIONS", []))
        for option in sorted(options - documented):
            problems.append(f"wsx {sub} {option}: not in {man_page}")
        for option in sorted(documented - options):
            problems.append(f"wsx {sub} {option}: in {man_page} but not in 'wsx {sub} --help'")
        longs = {o for o in options if o.startswith("--")} | {"--help"}
        completed = completion_words(completion, f"{sub})")
        for option in sorted(longs - completed):
            problems.append(f"wsx {sub} {option}: not in {completion}")
        for option in sorted(completed - longs):
            problems.append(f"wsx {sub} {option}: in {completion} but not in 'wsx {sub} --help'")
        # An option that takes a file completes file names, one that takes a directory
        # directory names (the completion said "ws:// wss://" after --redis-ca).
        for option, kind in sorted(path_options(wsx, sub).items()):
            offered = completion_offers(completion, ["wsx", sub, option, "some"])
            wanted = {"FILE": "some.pem", "DIR": "somedir"}[kind]
            if wanted not in offered:
                problems.append(f"wsx {sub} {option} {kind}: {completion} does not complete "
                                f"{kind.lower()} names (offers {sorted(offered)})")
    top = help_options(wsx)
    for option in sorted(top - roff_options(sections.get("SYNOPSIS", []))):
        problems.append(f"wsx {option}: not in the SYNOPSIS of {man_page}")
    for option in sorted(({o for o in top if o.startswith("--")} | {"--help"})
                         - completion_words(completion, '"")')):
        problems.append(f"wsx {option}: not in {completion}")

    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80")
    warnings = subprocess.run(["man", "--warnings", "-l", man_page], env=env,
                              capture_output=True, text=True).stderr.strip()
    if warnings:
        problems.append("man page warnings:\n" + warnings)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
