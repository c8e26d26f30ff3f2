#!/usr/bin/env bash
# The suite passes wherever the tree lives (issue 22): clones this
# repository's HEAD into a directory only root may enter (mode 0700, as root's
# home is), builds it there and runs the tests whose cases drop from root to
# nobody; those must not need the build tree (tests/test-util.h,
# test_trap_unprivileged; tests/tool-util.h, tool_util_run).
#
#   scripts/private-dir-check.sh          the privilege-dropping tests
#   scripts/private-dir-check.sh --all    the whole suite (but deb-install)
#
# Only committed work is checked (a clone). Needs root, as CI runs: without
# it no case drops privileges and there is nothing to check.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "private-dir-check: skipped, needs root (the cases it checks drop from root to nobody)"
  exit 0
fi
jobs=$(nproc)
priv=$(mktemp -d /tmp/tessera-private-XXXXXX)
trap 'rm -rf "$priv"' EXIT
chmod 0700 "$priv"
git clone -q "$src" "$priv/tessera"
cd "$priv/tessera"

# The tests that drop privileges, found by what they call: a new one is
# checked without touching this list.
tests=$(grep -lE 'test_drop_privileges \(|as_nobody = TRUE|"setpriv"' tests/test-*.c \
          | sed 's#^tests/##; s#\.c$##' | paste -sd'|')
filter=(-R "^($tests)\$")
[ "${1:-}" = "--all" ] && filter=(-LE deb)

# The same flags and depth as scripts/build-matrix.sh's build-matrix/NAME,
# so that ccache (CCACHE_BASEDIR, CCACHE_NOHASHDIR) serves its objects.
args=(-DCMAKE_BUILD_TYPE=Debug -DTESSERA_WERROR=ON)
if command -v ccache >/dev/null 2>&1; then
  export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
  args+=(-DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
build=build-matrix/private
echo "private-dir-check: $PWD (in $priv, mode $(stat -c %a "$priv"))"
cmake -S . -B "$build" "${args[@]}" >/dev/null
cmake --build "$build" -j"$jobs" >/dev/null
ctest --test-dir "$build" --output-on-failure -j"$jobs" "${filter[@]}"
echo "private-dir-check: ok"
