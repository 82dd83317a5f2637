#!/usr/bin/env bash
# Compiles and links every ```cpp block of the guides in docs/ (each is a complete file) against
# an installed wsx, with g++ and clang++ under -Wall -Wextra -Wpedantic -Werror (and
# -Wno-missing-field-initializers: see docs/01-getting-started.md): a sample that
# no longer builds fails the test command. Run by scripts/consumer-test.sh with its prefix.
# usage: check-doc-samples.sh PREFIX
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$(find "$prefix" -name wsx.pc | head -n 1)")
flags=$(pkg-config --cflags --libs wsx)

# docs/NAME.md's Nth cpp block -> $work/NAME_N.cpp
python3 - "$work" docs/*.md <<'PY'
import pathlib, re, sys
out = pathlib.Path(sys.argv[1])
for md in sys.argv[2:]:
    text = pathlib.Path(md).read_text()
    blocks = re.findall(r"^```cpp\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    for n, block in enumerate(blocks, 1):
        (out / f"{pathlib.Path(md).stem}_{n}.cpp").write_text(block)
PY
samples=("$work"/*.cpp)
[ -e "${samples[0]}" ] || { echo "no cpp samples found in docs/"; exit 1; }
compile() {  # compile SAMPLE COMPILER
  local sample=$1 compiler=$2
  if ! "$compiler" -std=c++20 -Wall -Wextra -Wpedantic -Werror -Wno-missing-field-initializers "$sample" -o "$sample.$compiler" \
       $flags 2> "$sample.$compiler.log"; then
    echo "FAIL: $(basename "$sample") (docs/$(basename "$sample" | sed 's/_[0-9]*\.cpp$/.md/')) with $compiler:"
    cat "$sample.$compiler.log"
    return 1
  fi
}
export -f compile
export flags
printf '%s\n' "${samples[@]}" | sed 's/$/ g++/; p; s/ g++$/ clang++/' | sort -u |
  xargs -P "${WSX_JOBS:-$(nproc)}" -L 1 bash -c 'compile "$0" "$1"'
echo "${#samples[@]} samples of docs/ compile and link with g++ and clang++"
