#!/usr/bin/env bash
# Every test, with the machine kept busy: proof that no test depends on the
# machine's speed (a shared CI host, a packager's loaded laptop).
#
#   scripts/test-under-load.sh [--ctest-runs N] [--package-runs N] [--no-test-sh]
#
# stress-ng (--cpu 4 --io 2 --vm 1: more runnable threads than this 2-core
# machine has, plus I/O and memory pressure) runs for the whole script. Under
# it, in order:
#  1. scripts/test.sh, whole (unless --no-test-sh);
#  2. the ctest stage of scripts/test.sh (the -Werror build's tests) N more
#     times in a row (--ctest-runs, default 2: three ctest runs with step 1);
#  3. the README's packaging command, which runs the test suite,
#     dpkg-buildpackage -b --no-sign -tc -Ppkg.tessera.offline-only, N times
#     (--package-runs, default 2), each in a scratch copy of the tree so the
#     .debs do not land beside the repository.
# Each step prints its time and the load average; the first failure stops
# the script with a non-zero exit.
set -euo pipefail
cd "$(dirname "$0")/.."

ctest_runs=2 package_runs=2 test_sh=true
while [ $# -gt 0 ]; do
  case "$1" in
    --ctest-runs) ctest_runs=$2; shift 2 ;;
    --package-runs) package_runs=$2; shift 2 ;;
    --no-test-sh) test_sh=false; shift ;;
    *) echo "test-under-load: unknown argument '$1'" >&2; exit 1 ;;
  esac
done

scripts/install-deps.sh
command -v stress-ng >/dev/null || { echo "test-under-load: stress-ng is not installed" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tessera-load-XXXXXX")
stress=
cleanup() {
  [ -n "$stress" ] && kill -- "-$stress" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Its own process group, so the workers go with it.
setsid stress-ng --cpu 4 --io 2 --vm 1 --vm-bytes 1G --quiet >"$work/stress.log" 2>&1 &
stress=$!
sleep 5
load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "test-under-load: stress-ng --cpu 4 --io 2 --vm 1 running (pid $stress), load $(load)"

timed() { # timed LABEL CMD...
  local label=$1
  shift
  local t0=$SECONDS
  echo "== under load: $label (load $(load))"
  if ! "$@"; then
    echo "test-under-load: FAILED: $label after $((SECONDS - t0)) s (load $(load))" >&2
    exit 1
  fi
  echo "test-under-load: passed: $label in $((SECONDS - t0)) s (load $(load))"
  echo "$label: $((SECONDS - t0)) s" >>"$work/times"
}

if $test_sh; then
  timed "scripts/test.sh" scripts/test.sh
fi
if [ "$ctest_runs" -gt 0 ]; then
  if [ ! -f build-ci/CTestTestfile.cmake ]; then
    cmake -S . -B build-ci -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTESSERA_WERROR=ON -DTESSERA_VALGRIND=ON >/dev/null
  fi
  cmake --build build-ci -j"$(nproc)" >/dev/null
  for i in $(seq "$ctest_runs"); do
    timed "ctest stage, run $i of $ctest_runs" \
      ctest --test-dir build-ci --output-on-failure -j"$(nproc)" -LE memcheck
  done
fi
for i in $(seq "$package_runs"); do
  # The tracked files as they are in the work tree (no build folders).
  mkdir -p "$work/pkg$i/src"
  git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$work/pkg$i/src"
  timed "dpkg-buildpackage -b --no-sign -tc -Ppkg.tessera.offline-only, run $i of $package_runs" \
    bash -c "cd '$work/pkg$i/src' && dpkg-buildpackage -b --no-sign -tc -Ppkg.tessera.offline-only >'$work/pkg$i.log' 2>&1 || { tail -n 80 '$work/pkg$i.log'; exit 1; }"
  ls "$work/pkg$i"/*.deb | sed 's|.*/|  built |'
done

echo "test-under-load: all green under load:"
sed 's/^/  /' "$work/times"
