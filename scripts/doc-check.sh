#!/bin/sh
# Fails when a function libtessera exports has no gtk-doc comment block
# ("/**\n * tessera_name:") in the public headers, so the API reference
# (gi-docgen, from the .gir) documents every exported symbol.
# Usage: scripts/doc-check.sh LIBTESSERA.so HEADER_DIR...
set -eu
lib=$1
shift
[ -f "$lib" ] || { echo "doc-check: $lib: no such library" >&2; exit 2; }
[ $# -gt 0 ] || { echo "doc-check: no header directory given" >&2; exit 2; }
documented=$(mktemp)
trap 'rm -f "$documented"' EXIT
for dir in "$@"; do
  # A block opens with "/**" and names its symbol on the next line.
  awk 'prev ~ /^\/\*\*[ \t]*$/ && match($0, /^ \* (tessera_[a-z0-9_]+):/) {
         print substr($0, 4, RLENGTH - 4) }
       { prev = $0 }' "$dir"/*.h
done | sort -u >"$documented"
missing=$(nm -D --defined-only "$lib" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' |
  grep '^tessera_' | sort -u | comm -23 - "$documented")
total=$(nm -D --defined-only "$lib" | awk '$2 == "T"' | grep -c ' tessera_' || true)
if [ -n "$missing" ]; then
  n=$(printf '%s\n' "$missing" | wc -l)
  echo "doc-check: $n of $total exported functions have no gtk-doc comment in $*:" >&2
  printf '  %s\n' $missing >&2
  exit 1
fi
echo "doc-check: all $total exported functions documented"
