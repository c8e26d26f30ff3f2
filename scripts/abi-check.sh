#!/usr/bin/env bash
# Usage: scripts/abi-check.sh [--update] [BUILD_DIR]
#
# Compares the ABI of the built libtessera.so with the committed baseline,
# abi/libtessera.abi (libabigail's abidw output), and fails on an
# incompatible change: a removed function or variable, a changed signature,
# a changed public type. Added functions pass: they only need a new node in
# core/libtessera.map (the abi-symbols test sees to that). docs/abi.md.
#
# BUILD_DIR (default build-abi) is configured RelWithDebInfo when it has no
# CMake cache yet, and libtessera is built in it: the comparison reads the
# library's DWARF, so a build without -g is refused.
#
# --update rewrites the baseline from the built library. Do it only for a
# release that breaks the ABI on purpose (a new soname), or to record added
# symbols; say which in the commit.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

update=0
if [ "${1:-}" = "--update" ]; then
  update=1
  shift
fi
build=${1:-build-abi}
baseline=abi/libtessera.abi
suppressions=abi/libtessera.suppr

for tool in abidw abidiff; do
  command -v "$tool" >/dev/null || {
    echo "abi-check: $tool not found: install abigail-tools (scripts/install-deps.sh)" >&2
    exit 2
  }
done

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
if [ "$type" != "RelWithDebInfo" ]; then
  echo "abi-check: $build is a '$type' build; the baseline comes from RelWithDebInfo (debug info, release code)" >&2
  exit 2
fi
cmake --build "$build" -j"$(nproc)" --target tessera >/dev/null
lib="$build/core/libtessera.so"
[ -f "$lib" ] || {
  echo "abi-check: no $lib after the build" >&2
  exit 2
}

# Public types are those of include/tessera and of the GLib headers it
# builds on (a gint64 that becomes a gint32 is a changed signature); the
# types private to core/ are dropped. Nothing names the machine the dump
# was made on (no paths, no locations): the baseline is the same file from
# any checkout. The library is dumped the same way before the comparison:
# abidiff's own --headers-dir filter needs locations, which the baseline
# has not, and would then hide every change.
headers=()
for dir in "$src/include/tessera" "$build/include/tessera" \
  $(pkg-config --cflags-only-I glib-2.0 gio-2.0 | sed 's/-I//g'); do
  headers+=(--headers-dir "$dir")
done
dump() {
  abidw --no-corpus-path --no-comp-dir-path --no-show-locs --drop-private-types \
    "${headers[@]}" "$lib" | sed -E "s#(path=')[^']*/(core/[^']*')#\1\2#"
}

if [ $update -eq 1 ]; then
  mkdir -p abi
  dump >"$baseline.tmp"
  if grep -q -e "$src" -e '/work/' "$baseline.tmp"; then
    echo "abi-check: the new baseline still names a local path" >&2
    rm -f "$baseline.tmp"
    exit 1
  fi
  mv "$baseline.tmp" "$baseline"
  echo "abi-check: wrote $baseline ($(grep -c '<elf-symbol .*type=.func-type' "$baseline") functions)"
  exit 0
fi

[ -f "$baseline" ] || {
  echo "abi-check: no $baseline; create it with scripts/abi-check.sh --update" >&2
  exit 2
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
report="$tmp/report"
dump >"$tmp/current.abi"
rc=0
abidiff --suppressions "$suppressions" "$baseline" "$tmp/current.abi" >"$report" 2>&1 || rc=$?

# abidiff's exit status is a bit field: 1 error, 2 usage error, 4 some ABI
# change, 8 an incompatible change (a removed symbol). A changed signature
# is reported with bit 4 only, so the summary lines decide: anything removed
# or changed fails; only added functions and variables pass.
if [ $((rc & 3)) -ne 0 ]; then
  cat "$report" >&2
  echo "abi-check: abidiff failed (exit $rc)" >&2
  exit 1
fi
broken=0
if [ $((rc & 8)) -ne 0 ]; then
  broken=1
fi
# "Functions changes summary: 1 Removed, 2 Changed (3 filtered out), 4 Added functions"
# "Function symbols changes summary: 1 Removed, 2 Added function symbols not referenced by debug info"
while read -r removed changed; do
  if [ "${removed:-0}" -ne 0 ] || [ "${changed:-0}" -ne 0 ]; then
    broken=1
  fi
done < <(sed -n -E 's/^ *(Functions|Variables) changes summary: ([0-9]+) Removed, ([0-9]+) Changed.*/\2 \3/p' "$report")
while read -r removed; do
  [ "${removed:-0}" -eq 0 ] || broken=1
done < <(sed -n -E 's/^ *(Function|Variable) symbols changes summary: ([0-9]+) Removed.*/\2/p' "$report")
if grep -q -E '^ *(ELF SONAME changed|architecture changed)' "$report"; then
  broken=1
fi

if [ $broken -ne 0 ]; then
  cat "$report" >&2
  echo "abi-check: FAIL: libtessera's ABI changed incompatibly against $baseline (docs/abi.md)" >&2
  exit 1
fi
if [ $((rc & 4)) -ne 0 ]; then
  sed 's/^/  /' "$report"
  echo "abi-check: ok: compatible additions only (record them: scripts/abi-check.sh --update)"
else
  echo "abi-check: ok: the ABI matches $baseline"
fi
