#!/usr/bin/env bash
# Checks a wsx .deb without installing it: its control fields, that it holds the libraries,
# headers, CMake and pkg-config files, the browser client wsx.js, the command, its man page and
# bash completion, and that every shared library its ELF files need comes from a package it
# depends on.
# usage: check_deb.sh PACKAGE.deb
set -euo pipefail
deb=$1
fail() { echo "FAIL: $*"; exit 1; }
info=$(dpkg-deb -I "$deb")
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')

[ "$(dpkg-deb -f "$deb" Package)" = wsx ] || fail "package name"
version=$(dpkg-deb -f "$deb" Version)
[ "$version" = "$(sed -n 's/^project(wsx VERSION \([0-9.]*\).*/\1/p' "$(dirname "$0")/../../CMakeLists.txt")" ] ||
  fail "version $version differs from CMakeLists.txt"
depends=$(dpkg-deb -f "$deb" Depends)
# The package names alone, one a line (no versions): "libstdc++6" is no regular expression.
depends_names=$(sed -e 's/ *([^)]*)//g' -e 's/, */\n/g' <<< "$depends")
for package in libssl3 zlib1g libedit2 libc6 libstdc++6; do
  grep -qxF "$package" <<< "$depends_names" || fail "Depends lacks $package: $depends"
done
grep -q 'shlibs' <<< "$info" || fail "no shlibs control file"

for path in ./usr/bin/wsx ./usr/share/man/man1/wsx.1.gz \
    ./usr/share/bash-completion/completions/wsx ./usr/include/wsx/server.hpp \
    ./usr/include/wsx/client.hpp ./usr/include/wsx/proto/connection.hpp \
    ./usr/include/wsx/version.hpp ./usr/include/wsx/export.hpp ./usr/share/doc/wsx/copyright \
    ./usr/share/doc/wsx/CHANGELOG.md ./usr/share/wsx/wsx.js; do
  grep -qxF "$path" <<< "$contents" || fail "missing $path"
done
for layer in proto io session h2 server client; do
  for suffix in "so.$version" so.0.2 so; do
    grep -qE "^\./usr/lib/[^/]+/libwsx_$layer\.$suffix$" <<< "$contents" ||
      fail "missing libwsx_$layer.$suffix"
  done
done
for file in cmake/wsx/wsxConfig.cmake cmake/wsx/wsxConfigVersion.cmake cmake/wsx/wsxTargets.cmake \
    pkgconfig/wsx.pc; do
  grep -qE "^\./usr/lib/[^/]+/$file$" <<< "$contents" || fail "missing $file"
done
if grep -E '/src/|\.a$' <<< "$contents"; then fail "private sources or static archives packaged"; fi

# The package that installed a library, however the path is spelled (merged /usr, symlinks).
owner_of() {
  local candidate owner
  for candidate in "$1" "$(readlink -f "$1")" "/usr$1" "${1#/usr}"; do
    owner=$(dpkg -S "$candidate" 2> /dev/null | head -n 1 | cut -d: -f1) || true
    if [ -n "$owner" ]; then echo "$owner"; return 0; fi
  done
  return 1
}

# Every NEEDED library of every ELF file: ours, or from a package in Depends.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work"
needed=$(find "$work" -type f \( -name '*.so*' -o -path '*/bin/*' \) -exec readelf -d {} + 2>/dev/null |
  sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u)
[ -n "$needed" ] || fail "no NEEDED entries found"
for library in $needed; do
  case $library in libwsx_*) continue ;; esac
  # (awk reads to the end: an early exit would kill ldconfig with SIGPIPE under pipefail)
  path=$(ldconfig -p | awk -v l="$library" '!found && $1 == l && /x86-64/ {print $NF; found = 1}')
  [ -n "$path" ] || fail "$library not found on this system"
  owner=$(owner_of "$path") || fail "no package owns $path"
  grep -qxF "$owner" <<< "$depends_names" || fail "$library comes from $owner, not in Depends"
done
echo "$(basename "$deb"): $(wc -l <<< "$contents") entries, Depends: $depends"
