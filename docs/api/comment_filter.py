#!/usr/bin/env python3
"""Doxygen INPUT_FILTER for the public headers: their comments are plain `//` (STYLE.md), and
this turns them into documentation as Doxygen reads them, so the headers stay as they are.

- the comment block at the top of a header documents the file;
- a comment block on its own lines documents the declaration below it;
- a comment after a declaration on the same line documents that declaration.
Doxygen's command characters are escaped: the comments are prose, not Doxygen markup."""
import re
import sys


def escape(text):
    """Backslashes, @, <, > and # outside `code` would be read as Doxygen commands or HTML."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # the even parts are outside backticks
        part = parts[i].replace("\\", "\\\\").replace("@", "\\@")
        parts[i] = part.replace("<", "\\<").replace(">", "\\>").replace("#", "\\#")
    return "`".join(parts)


def main():
    lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
    out = []
    in_file_comment = True
    trailing_column = -1  # where the previous line's trailing comment started
    for line in lines:
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if stripped.startswith("///"):
            out.append(line)  # already documentation
            continue
        if stripped.startswith("//"):
            text = stripped[2:]
            if in_file_comment:
                prefix = "/// @file\n///" if not out else "///"
                out.append(prefix + escape(text))
            elif len(indent) == trailing_column:
                # The next line of a comment that follows a declaration on its line.
                out.append(indent + "///<" + escape(text))
            else:
                out.append(indent + "///" + escape(text))
            continue
        if in_file_comment and out:
            # The file comment ends at the first non-comment line; a blank line keeps what
            # follows from being attached to it.
            in_file_comment = False
            out.append("")
        in_file_comment = False
        code, sep, comment = split_trailing_comment(line)
        trailing_column = len(code) if sep else -1
        if sep and re.search(r"[A-Za-z_0-9)\]]\s*(=[^;]*)?[;,{]?\s*$", code) \
                and not code.strip().startswith("}"):
            out.append(code + "///< " + escape(comment.strip()))
        else:
            out.append(line)
    sys.stdout.write("\n".join(out))


def split_trailing_comment(line):
    """code, "//", comment — outside string and character literals."""
    quote = None
    i = 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif line.startswith("//", i):
            return line[:i], "//", line[i + 2:]
        i += 1
    return line, "", ""


if __name__ == "__main__":
    main()
