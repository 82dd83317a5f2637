#!/usr/bin/env bash
# Every long option that `wsx SUBCOMMAND --help` prints must be in the man page (wsx.1) and in
# the bash completion, so a new option cannot ship undocumented. The man page must also render
# without groff warnings.
# usage: check_options_documented.sh WSX_BINARY MAN_PAGE COMPLETION
set -euo pipefail
wsx=$1 man_page=$2 completion=$3
missing=0
for sub in connect serve bench; do
  options=$("$wsx" "$sub" --help | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u)
  [ -n "$options" ] || { echo "no options found in 'wsx $sub --help'"; exit 1; }
  for option in $options; do
    [ "$option" = --help ] && continue
    # In roff every '-' of an option is written '\-'.
    if ! grep -qF -- "${option//-/\\-}" "$man_page"; then
      echo "wsx $sub $option: not in $man_page"; missing=1
    fi
    # The completion lists each subcommand's options on the lines after its "sub)" label.
    if ! awk -v s="    $sub)" '$0 == s {on = 1; next} on && /;;/ {print; exit} on' "$completion" \
        | grep -qE -- "(^|[[:space:]\"])$option([[:space:]\"]|$)"; then
      echo "wsx $sub $option: not in $completion"; missing=1
    fi
  done
done
warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$man_page" 2>&1 >/dev/null || true)
if [ -n "$warnings" ]; then
  echo "man page warnings:"; echo "$warnings"; missing=1
fi
exit $missing
