#!/usr/bin/env bash
# Static analysis of every C source (step of scripts/test.sh): cppcheck,
# clang-tidy (.clang-tidy) and the clang static analyzer (scan-build). Any
# report fails. Suppressions live next to the tool's config, each with why.
#   scripts/static-analysis.sh [BUILD_DIR]   (default: build-sa)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-sa}
jobs=$(nproc)

# A compile database of a configured (and built: generated sources exist) tree.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
cmake --build "$build" -j"$jobs" >/dev/null

echo "-- cppcheck"
# --library=gtk teaches cppcheck GLib's macros (g_autoptr, g_return_*).
cppcheck --project="$build/compile_commands.json" --library=gtk --library=scripts/cppcheck-glib.cfg \
  --enable=warning,portability,performance --inline-suppr --quiet --error-exitcode=1 \
  -j"$jobs" --suppressions-list=scripts/cppcheck.supp \
  --suppress="*:/usr/*" --suppress="*:$PWD/$build/*"
echo "cppcheck: clean"

echo "-- clang-tidy"
# The product's code; tests/ and fuzz/ are covered by scan-build below, by
# valgrind and ASan+UBSan, and GTest's assertion macros only add analyzer
# noise here.
mapfile -t sources < <(git ls-files '*.c' | grep -v '^fuzz/\|^tests/')
printf '%s\n' "${sources[@]}" | xargs -P"$jobs" -n4 clang-tidy -p "$build" --quiet 2>&1 \
  | grep -v 'warnings generated\|Suppressed .* warnings\|Use -header-filter\|^$' \
  | tee "$build/clang-tidy.log" || true
if grep -q 'error:\|warning:' "$build/clang-tidy.log"; then
  echo "clang-tidy: reports above" >&2
  exit 1
fi
echo "clang-tidy: clean"

echo "-- scan-build"
# Checkers off, as in .clang-tidy: unix.Malloc (clang 14's analyzer does not
# model __attribute__((cleanup)), so every g_autoptr/g_autofree variable reads
# as a leak; valgrind and LeakSanitizer check leaks over the whole test suite,
# steps 2 and 3 of scripts/test.sh) and deadcode.DeadStores (g_autoptr
# variables that hold a row only to free it). The product's code only
# (BUILD_TESTING=OFF): GTest's assertion macros (g_assert_cmpstrv) read as
# uninitialized arguments, and the tests run under valgrind and ASan+UBSan.
rm -rf "$build-scan"
scan=(scan-build --status-bugs -disable-checker unix.Malloc -disable-checker deadcode.DeadStores
      -o "$build-scan/reports")
"${scan[@]}" cmake -S . -B "$build-scan" -DCMAKE_BUILD_TYPE=Debug -DBUILD_TESTING=OFF >/dev/null
"${scan[@]}" cmake --build "$build-scan" -j"$jobs" >/dev/null
echo "scan-build: clean"
