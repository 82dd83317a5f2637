#!/usr/bin/env bash
# Each public header compiles on its own (it includes what it uses) with COMPILER under
# -std=c++20 -Wall -Wextra -Wpedantic -Werror, seeing only the installed include directories.
# usage: check_headers_compile.sh COMPILER INCLUDE_DIR GENERATED_INCLUDE_DIR [HEADER...]
# HEADERs are names under the include directories (wsx/server.hpp); without them, every header
# there. CTest runs one header per test (tests/headers/CMakeLists.txt), so they run in parallel.
set -euo pipefail
compiler=$1 include=$2 generated=$3
shift 3
status=0
count=0
while IFS= read -r name; do
  if ! printf '#include "%s"\n#include "%s"\n' "$name" "$name" |
      "$compiler" -std=c++20 -Wall -Wextra -Wpedantic -Werror -fsyntax-only \
        -I"$include" -I"$generated" -x c++ -; then
    echo "FAIL: $name with $compiler"; status=1
  fi
  count=$((count + 1))
done < <(if [ $# -gt 0 ]; then printf '%s\n' "$@"; else
           find "$include" "$generated" -name '*.hpp' |
             sed -e "s|^$generated/||" -e "s|^$include/||" | sort -u; fi)
[ "$count" -gt 0 ] || { echo "no headers under $include"; exit 1; }
echo "$count headers compile alone with $compiler"
exit $status
