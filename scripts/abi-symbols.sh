#!/usr/bin/env bash
# Usage: scripts/abi-symbols.sh LIBTESSERA.so [BUILD_DIR]
#
# Keeps the public header, the version script and the library in step, so a
# new function can neither stay unexported nor be exported unversioned
# (docs/abi.md). Fails when:
#  - a tessera_* function declared in include/tessera/*.h (or a header
#    generated into BUILD_DIR/include/tessera/) is not in core/libtessera.map;
#  - the map names a symbol the library does not define, or one no public
#    header declares (an internal function made public by mistake);
#  - the library exports a symbol the map does not list, or one without a
#    TESSERA_* version;
#  - debian/libtessera0.symbols does not list exactly the map's symbols,
#    each with the version node the map puts it in.
# Declarations come from the compiler itself (gcc -aux-info), not from a
# regular expression over the headers: macros, multi-line prototypes and
# static inline helpers are then seen as the C compiler sees them.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
lib=${1:?usage: abi-symbols.sh LIBTESSERA.so [BUILD_DIR]}
build=$(cd "${2:-$(dirname "$lib")/..}" && pwd)
map="$src/core/libtessera.map"
symbols="$src/debian/libtessera0.symbols"
# -aux-info is GCC's; the check does not depend on the compiler the build uses.
cc=${TESSERA_ABI_GCC:-gcc}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
fail() {
  echo "FAIL: $*" >&2
  status=1
}
# Prints the lines of $2 that are not in $1 (both sorted).
only_in_second() { comm -13 "$1" "$2"; }

[ -f "$lib" ] || {
  echo "abi-symbols: no library at $lib" >&2
  exit 2
}

# 1. Declared: every extern tessera_* function of the public headers.
headers=()
for h in "$src"/include/tessera/*.h "$build"/include/tessera/*.h; do
  [ -f "$h" ] && headers+=("$h")
done
# tessera.h first, as a product includes it; then every header by path, so
# one that tessera.h forgets is still seen (TESSERA_COMPILATION lets it in).
{
  echo '#include <tessera/tessera.h>'
  printf '#include "%s"\n' "${headers[@]}"
} >"$tmp/all.c"
# shellcheck disable=SC2046 # pkg-config prints several words on purpose
"$cc" -std=gnu11 -fsyntax-only -DTESSERA_COMPILATION -aux-info "$tmp/aux.txt" -I"$src/include" -I"$build/include" \
  $(pkg-config --cflags glib-2.0 gio-2.0) "$tmp/all.c"
# A line reads: /* FILE:LINE:NC */ extern TYPE NAME (ARGS); static inline helpers
# (glib's autoptr cleanups) are not exported and are left out.
grep -E '^/\* [^ ]*/include/tessera/[^ ]*:[0-9]+:[A-Z]+ \*/ extern ' "$tmp/aux.txt" |
  perl -ne 'print "$1\n" if m{\*/ extern .*?[ *](tessera_\w+) *\(}' | sort -u >"$tmp/declared"
[ -s "$tmp/declared" ] || {
  echo "abi-symbols: found no tessera_* declaration in the headers (gcc -aux-info: $tmp/aux.txt)" >&2
  exit 2
}

# 2. Mapped: NAME VERSION for each global symbol of each node of the map.
sed -e 's:/\*.*\*/::' -e '/\/\*/,/\*\//d' "$map" | awk '
  /^[ \t]*[A-Za-z0-9_.]+[ \t]*\{/ { node = $1; sub(/\{.*/, "", node); scope = ""; next }
  /^[ \t]*\}/ { node = ""; next }
  /global:/ { scope = "global"; next }
  /local:/ { scope = "local"; next }
  node != "" && scope == "global" && NF {
    for (i = 1; i <= NF; i++) { s = $i; gsub(/;/, "", s); if (s != "") print s, node }
  }' | sort -u >"$tmp/mapped-versioned"
awk '{ print $1 }' "$tmp/mapped-versioned" | sort -u >"$tmp/mapped"
[ -s "$tmp/mapped" ] || fail "$map lists no symbol"
if grep -q '[*?]' "$tmp/mapped"; then
  fail "$map: a global pattern ($(grep '[*?]' "$tmp/mapped" | tr '\n' ' ')); list each symbol"
fi
dups=$(awk '{ print $1 }' "$tmp/mapped-versioned" | uniq -d)
[ -z "$dups" ] || fail "$map lists these in more than one node: $dups"

# 3. Exported: the library's defined dynamic symbols with their version
# (objdump -T: ... SIZE VERSION NAME), minus the nodes' own marker symbols.
objdump -T "$lib" | awk '/^[0-9a-f]+ / && $0 !~ /\*UND\*/ { print $NF, $(NF - 1) }' |
  awk '$1 != $2' | sort -u >"$tmp/exported-versioned"
awk '{ print $1 }' "$tmp/exported-versioned" | sort -u >"$tmp/exported"

while read -r s; do
  fail "$s is declared in include/tessera/ but not in core/libtessera.map: add it to a new version node (docs/abi.md)"
done < <(only_in_second "$tmp/mapped" "$tmp/declared")
while read -r s; do
  fail "core/libtessera.map names $s, which $(basename "$lib") does not define"
done < <(only_in_second "$tmp/exported" "$tmp/mapped")
while read -r s; do
  fail "core/libtessera.map names $s, which no header in include/tessera/ declares"
done < <(only_in_second "$tmp/declared" "$tmp/mapped")
while read -r s; do
  fail "$(basename "$lib") exports $s, which core/libtessera.map does not list"
done < <(only_in_second "$tmp/mapped" "$tmp/exported")
while read -r s want got; do
  fail "$(basename "$lib") exports $s with version '$got', not the map's node $want"
done < <(join "$tmp/mapped-versioned" "$tmp/exported-versioned" | awk '$2 != $3')

# 4. The Debian symbols file: " NAME@NODE VERSION" for each symbol, and the
# nodes themselves ("TESSERA_0@TESSERA_0"), which dpkg-gensymbols also sees.
if [ -f "$symbols" ]; then
  sed -n 's/^ \([A-Za-z0-9_.]*\)@\([A-Za-z0-9_.]*\) .*/\1 \2/p' "$symbols" | awk '$1 != $2' |
    sort -u >"$tmp/debian-versioned"
  while read -r s v; do
    fail "debian/libtessera0.symbols lacks $s@$v"
  done < <(only_in_second "$tmp/debian-versioned" "$tmp/mapped-versioned")
  while read -r s v; do
    fail "debian/libtessera0.symbols lists $s@$v, which core/libtessera.map does not"
  done < <(only_in_second "$tmp/mapped-versioned" "$tmp/debian-versioned")
  while read -r v; do
    grep -q "^ $v@$v " "$symbols" || fail "debian/libtessera0.symbols lacks the node $v@$v"
  done < <(awk '{ print $2 }' "$tmp/mapped-versioned" | sort -u)
else
  fail "no $symbols"
fi

n=$(wc -l <"$tmp/mapped")
if [ $status -eq 0 ]; then
  echo "abi-symbols: ok: $n symbols declared, mapped, exported and in the Debian symbols file"
fi
exit $status
