#!/usr/bin/env python3
"""Checks that the public API is exported: every function or variable that the static archives
define for a class, struct or free function declared in the public headers must carry WSX_API
(default visibility). The libraries are compiled with hidden visibility, so a public function
added without the mark links against the static library but not against the shared one; this
check finds it in the static test build, before any consumer does.

usage: check_exports.py INCLUDE_DIR ARCHIVE... ; exit 0 when all is exported, 1 with a list,
77 (CTest's skip) when an archive was not built: a partial build (`cmake --build --target` of a
few tests) has not checked the whole API, and says which libraries it lacks.
"""
import os
import pathlib
import re
import subprocess
import sys

# Namespaces of the library; what remains of a qualified name after them is a type or function.
NAMESPACES = {"wsx", "proto", "io"}


def public_names(include_dir):
    """Types defined (with a body) and free functions declared in the public headers."""
    types, functions = set(), set()
    for header in pathlib.Path(include_dir).rglob("*.hpp"):
        text = re.sub(r"//[^\n]*", "", header.read_text())
        for m in re.finditer(r"\b(?:class|struct)\s+(?:WSX_API\s+)?(\w+)\s*(?:final\s*)?(?:\{|:(?!:))", text):
            types.add(m.group(1))
        # Namespace-scope declarations start in column 0 (clang-format), members are indented.
        for m in re.finditer(r"^(?!\s)[^\n#]*?\b(operator\s*\S+?|\w+)\s*\(", text, re.MULTILINE):
            functions.add(re.sub(r"\s+", "", m.group(1)))
        # Friends declared in a class are namespace-scope functions too (operator==, ...).
        for m in re.finditer(r"\bfriend\s+[^;(]*?\b(operator\s*\S+?|\w+)\s*\(", text):
            functions.add(re.sub(r"\s+", "", m.group(1)))
    return types, functions


def split_qualified(name):
    """wsx::io::Stream::close() const -> ['wsx', 'io', 'Stream', 'close']."""
    # Operator names hold the characters the scan below treats as brackets: set them aside.
    operators = []

    def keep(m):
        operators.append(re.sub(r"\s+", "", m.group(0)))
        return f"@op{len(operators) - 1}@"

    name = re.sub(r"\boperator\s*(\(\)|\[\]|[^\s(]+)", keep, name)
    depth, parts, current = 0, [], ""
    i = 0
    while i < len(name):
        c = name[i]
        if c == "<":
            depth += 1
        elif c == ">":
            depth -= 1
        elif c == "(" and depth == 0:
            break
        elif depth == 0 and name.startswith("::", i):
            parts.append(current)
            current, i = "", i + 2
            continue
        elif depth == 0:
            current += c
        i += 1
    parts.append(current)
    return [re.sub(r"@op(\d+)@", lambda m: operators[int(m.group(1))], p).strip() for p in parts]


def hidden_definitions(archives):
    """Global (not weak) functions and objects the archives define with hidden visibility."""
    mangled = set()
    for archive in archives:
        out = subprocess.run(["readelf", "-sW", archive], check=True, capture_output=True,
                             text=True).stdout
        for line in out.splitlines():
            f = line.split()
            # Num: Value Size Type Bind Vis Ndx Name
            if len(f) >= 8 and f[3] in ("FUNC", "OBJECT") and f[4] == "GLOBAL" \
                    and f[5] == "HIDDEN" and f[6] != "UND":
                mangled.add(f[7])
    names = sorted(mangled)
    demangled = subprocess.run(["c++filt"], input="\n".join(names), check=True,
                               capture_output=True, text=True).stdout.splitlines()
    return list(zip(names, demangled))


SKIP = 77


def main():
    include_dir, archives = sys.argv[1], sys.argv[2:]
    not_built = [a for a in archives if not os.path.exists(a)]
    if not_built:
        print("skipped: not built (build them, or the whole tree, to check the public API): "
              + ", ".join(os.path.basename(a) for a in not_built))
        return SKIP
    types, functions = public_names(include_dir)
    missing = []
    for mangled, name in hidden_definitions(archives):
        for prefix in ("vtable for ", "typeinfo for ", "typeinfo name for "):
            if name.startswith(prefix):
                name = name[len(prefix):] + "::"
        parts = [p for p in split_qualified(name) if p]
        while parts and parts[0] in NAMESPACES:
            parts = parts[1:]
        if not parts:
            continue
        scopes, last = parts[:-1], parts[-1]
        if scopes:
            # A member: public when its innermost class is defined in a public header and no
            # enclosing scope is private (Client::Impl, a class local to a .cpp file, ...).
            if all(s in types for s in scopes):
                missing.append(name)
        elif name.endswith("::") and last in types:
            missing.append(name)
        elif last in functions and "(" in name:
            missing.append(name)
    if missing:
        print("public API compiled with hidden visibility (add WSX_API, include/wsx/export.hpp):")
        for name in sorted(set(missing)):
            print("  " + name)
        return 1
    print(f"all public symbols exported ({len(types)} types, {len(functions)} functions checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
