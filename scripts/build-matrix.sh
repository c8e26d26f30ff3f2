#!/usr/bin/env bash
# Every supported build configuration configures and builds (issue 22): each
# plugin alone, mock+offline and all four, each with the server on and off.
# The offline-only and the no-server configurations also run their tests
# (what a configuration cannot run, CMake leaves out: tests/CMakeLists.txt,
# tessera_test_requires). Debug -O0, -Werror, no valgrind: this checks the
# switches, not the code (scripts/test.sh does that).
#
#   scripts/build-matrix.sh [DIR]     builds in DIR/NAME (default build-matrix/)
#
# ccache, when installed, keeps it quick: every configuration compiles the
# same sources with the same flags, so after the first one most objects come
# from the cache. CCACHE_BASEDIR and CCACHE_NOHASHDIR make the cache ignore
# which build directory (and which clone) compiled them.
# Prints a Markdown table of configure+build and test times at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-build-matrix}
jobs=$(nproc)

cmake_args=(-DCMAKE_BUILD_TYPE=Debug -DTESSERA_WERROR=ON)
if command -v ccache >/dev/null 2>&1; then
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=true
  cmake_args+=(-DCMAKE_C_COMPILER_LAUNCHER=ccache)
else
  echo "build-matrix: ccache not found, every configuration compiles from scratch" >&2
fi

all="mock;offline;devmode;testops"
# plugins|server|run the tests?
configs=(
  "offline|OFF|test"
  "$all|OFF|test"
  "mock|OFF|" "devmode|OFF|" "testops|OFF|" "mock;offline|OFF|"
  "mock|ON|" "offline|ON|" "devmode|ON|" "testops|ON|" "mock;offline|ON|" "$all|ON|"
)

table=("| plugins | server | configure + build | tests |" "|---|---|---|---|")
failed=0
for c in "${configs[@]}"; do
  IFS='|' read -r plugins server run_tests <<<"$c"
  name="${plugins//;/+}-server-${server,,}"
  [ "$plugins" = "$all" ] && name="all-server-${server,,}"
  dir="$out/$name"
  log="$dir.log"
  mkdir -p "$out"
  echo "== $name"
  start=$SECONDS
  if ! { cmake -S . -B "$dir" "${cmake_args[@]}" "-DTESSERA_PLUGINS=$plugins" \
           "-DTESSERA_BUILD_SERVER=$server" && cmake --build "$dir" -j"$jobs"; } >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "build-matrix: $name does not configure or build (log: $log)" >&2
    table+=("| \`$plugins\` | $server | FAILED | |")
    failed=1
    continue
  fi
  build_time=$((SECONDS - start))
  test_time="not run"
  if [ -n "$run_tests" ]; then
    start=$SECONDS
    # deb-install builds packages from a copy of the tree: scripts/test.sh
    # runs it once, not per configuration.
    if ! ctest --test-dir "$dir" --output-on-failure -j"$jobs" -LE deb >>"$log" 2>&1; then
      grep -E "tests passed|\(Failed\)|\*\*\*|Bail out" "$log" | tail -n 40
      echo "build-matrix: the tests of $name fail (log: $log)" >&2
      failed=1
    fi
    n=$(sed -n 's/.*tests passed, [0-9]* tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -n1)
    test_time="$((SECONDS - start)) s ($n tests)"
  fi
  echo "   configure + build ${build_time} s, tests: $test_time"
  table+=("| \`$plugins\` | $server | ${build_time} s | $test_time |")
done

printf '%s\n' "${table[@]}"
if [ "$failed" -ne 0 ]; then
  echo "build-matrix: FAILED" >&2
  exit 1
fi
echo "build-matrix: every configuration configures and builds"
