#!/usr/bin/env bash
# Runs every libFuzzer harness for SECONDS each (docs/fuzzing.md). Builds
# nothing: configure and build first,
#   CC=clang cmake -S . -B build-fuzz -DTESSERA_FUZZ=ON -DTESSERA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
#   cmake --build build-fuzz --target fuzz
#
#   fuzz/run.sh SECONDS [BUILD_DIR] [HARNESS...]
#
# Each harness first runs once over its regression inputs (fuzz/regressions/
# NAME/), then fuzzes for SECONDS from a copy of its seed corpus (fuzz/corpus/
# NAME/) in a temporary directory, so the repository's corpus stays as it is.
# Prints the executions per harness; exits non-zero if any harness crashed,
# leaked, hit a sanitizer report or a timeout. Crashing inputs are saved under
# BUILD_DIR/fuzz-crashes/ and their paths printed.
# FUZZ_JOBS=N runs N fuzzing processes per harness (libFuzzer -jobs/-workers).
set -euo pipefail

if [ $# -lt 1 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 SECONDS [BUILD_DIR] [HARNESS...]" >&2
  exit 2
fi
seconds=$1
fuzz_dir=$(cd "$(dirname "$0")" && pwd)
build=${2:-$fuzz_dir/../build-fuzz}
build=$(cd "$build" && pwd)
shift $(($# >= 2 ? 2 : 1))
harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
  harnesses=(licfile config fingerprint mock-scenario answer record server-request)
fi
jobs=${FUZZ_JOBS:-1}

crashes=$build/fuzz-crashes
mkdir -p "$crashes"
work=$(mktemp -d "${TMPDIR:-/tmp}/tessera-fuzz-XXXXXX")
trap 'rm -rf "$work"' EXIT

# GLib's one-time allocations (types, quarks) are not leaks of an input.
export LSAN_OPTIONS="suppressions=$fuzz_dir/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
# A GLib precondition failure (g_return_if_fail) is a bug too.
export G_DEBUG=fatal-criticals
unset TESSERA_PROVIDER TESSERA_CONFIG TESSERA_MOCK_SCENARIO

failed=0
summary=()
for name in "${harnesses[@]}"; do
  bin=$build/fuzz/fuzz-$name
  if [ ! -x "$bin" ]; then
    echo "fuzz: $bin is missing (cmake --build $build --target fuzz)" >&2
    exit 2
  fi
  dict=()
  if [ -f "$fuzz_dir/dict/$name.dict" ]; then
    dict=(-dict="$fuzz_dir/dict/$name.dict")
  fi
  common=(-rss_limit_mb=2048 -timeout=10 -artifact_prefix="$crashes/$name-" "${dict[@]}")
  log=$work/$name.log

  # 1. Every earlier crash, once (libFuzzer runs the files given to it).
  regressions=()
  if [ -d "$fuzz_dir/regressions/$name" ]; then
    while IFS= read -r -d '' f; do
      regressions+=("$f")
    done < <(find "$fuzz_dir/regressions/$name" -type f ! -name '*.md' -print0 | sort -z)
  fi
  regressed=0
  for f in "${regressions[@]}"; do
    if ! "$bin" "${common[@]}" "$f" >"$log" 2>&1; then
      grep -e 'runtime error:' -e '^SUMMARY:' -e '^==[0-9]*==ERROR' "$log" >&2 || tail -n 40 "$log" >&2
      echo "fuzz: $name: regression input fails again: $f" >&2
      regressed=$((regressed + 1))
    fi
  done
  if [ "$regressed" -gt 0 ]; then
    failed=1
    summary+=("$name: ${regressed} of ${#regressions[@]} REGRESSION input(s) fail (not fuzzed)")
    continue
  fi
  if [ ${#regressions[@]} -gt 0 ]; then
    echo "fuzz: $name: ${#regressions[@]} regression input(s) pass"
  fi

  # 2. Fuzz from a private copy of the seed corpus.
  corpus=$work/corpus-$name
  mkdir -p "$corpus"
  if [ -d "$fuzz_dir/corpus/$name" ]; then
    cp -R "$fuzz_dir/corpus/$name/." "$corpus/"
  fi
  parallel=()
  if [ "$jobs" -gt 1 ]; then
    parallel=(-jobs="$jobs" -workers="$jobs")
  fi
  before=$(find "$crashes" -type f -name "$name-*" | sort)
  echo "fuzz: $name: ${seconds}s from $(find "$corpus" -type f | wc -l) seed(s)"
  rc=0
  (cd "$work" && "$bin" "${common[@]}" "${parallel[@]}" -max_total_time="$seconds" \
    -print_final_stats=1 "$corpus") >"$log" 2>&1 || rc=$?
  if [ "$jobs" -gt 1 ]; then
    cat "$work"/fuzz-*.log >>"$log" 2>/dev/null || true
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | awk '{ s += $1 } END { print s + 0 }')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2 || true)
  if [ "$rc" -ne 0 ] || grep -q -e '^==[0-9]*==ERROR' -e 'runtime error:' "$log"; then
    failed=1
    tail -n 80 "$log" >&2
    new=$(comm -13 <(echo "$before") <(find "$crashes" -type f -name "$name-*" | sort) || true)
    echo "fuzz: $name: CRASH after ${execs} executions (exit ${rc})" >&2
    for f in $new; do
      echo "fuzz: $name: crashing input saved as $f" >&2
    done
    summary+=("$name: CRASH (${execs} executions)")
  else
    echo "fuzz: $name: ${execs} executions, coverage ${cov:-?}, no crash"
    summary+=("$name: ${execs} executions, cov ${cov:-?}")
  fi
done

echo "== fuzz summary (${seconds}s each)"
printf '  %s\n' "${summary[@]}"
exit "$failed"
