#!/usr/bin/env bash
# Builds the API reference (HTML) from the public headers with Doxygen into build-apidoc/html
# (or $1). Fails on any Doxygen warning. Needs the Debian package doxygen.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build-apidoc}
command -v doxygen > /dev/null || { echo "apidoc: doxygen is not installed (apt-get install doxygen)"; exit 1; }
version=$(sed -n 's/^project(wsx VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
IFS=. read -r major minor patch <<< "$version"
mkdir -p "$out/generated/wsx"
sed -e "s/@PROJECT_VERSION_MAJOR@/$major/" -e "s/@PROJECT_VERSION_MINOR@/$minor/" \
    -e "s/@PROJECT_VERSION_PATCH@/$patch/" -e "s/@PROJECT_VERSION@/$version/" \
    cmake/version.hpp.in > "$out/generated/wsx/version.hpp"
{
  cat docs/api/Doxyfile
  echo "OUTPUT_DIRECTORY = $out"
  echo "PROJECT_NUMBER = $version"
  echo "INPUT += $out/generated/wsx/version.hpp"
  echo "WARN_LOGFILE = $out/warnings.log"
} > "$out/Doxyfile"
if ! doxygen "$out/Doxyfile" || [ -s "$out/warnings.log" ]; then
  echo "apidoc: Doxygen warnings:"; cat "$out/warnings.log"; exit 1
fi
echo "API reference: $out/html/index.html"
