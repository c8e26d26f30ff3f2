#!/bin/sh
# A stand-in for a product's console runner (katalonc-like): runs a "test
# suite", writes a JUnit report, and exits 0 when every test passed, 1 when
# some failed -- the status a CI job acts on. It runs only under a license:
# `tessera run` tells it which one in $TESSERA_RUN_LICENSE_ID.
#
#   console-runner.sh -testSuitePath=SUITE -reportFolder=DIR
#
# SUITE is a file of lines "NAME pass|fail|sleep SECONDS".
set -eu
suite= report=.
for arg in "$@"; do
  case $arg in
    -testSuitePath=*) suite=${arg#-testSuitePath=} ;;
    -reportFolder=*) report=${arg#-reportFolder=} ;;
    *) echo "console-runner: unknown argument $arg" >&2; exit 64 ;;
  esac
done
[ -n "$suite" ] || { echo "console-runner: -testSuitePath= is required" >&2; exit 64; }
if [ -z "${TESSERA_RUN_LICENSE_ID:-}" ]; then
  echo "console-runner: not licensed: run me under 'tessera run --product KRE -- ...'" >&2
  exit 65
fi
echo "console-runner: licensed ($TESSERA_RUN_PRODUCT license $TESSERA_RUN_LICENSE_ID from $TESSERA_RUN_PROVIDER)"

mkdir -p "$report"
tests=0 failures=0 cases=
while read -r name verdict arg; do
  [ -n "$name" ] || continue
  tests=$((tests + 1))
  case $verdict in
    pass) echo "  PASS $name"; cases="$cases<testcase name=\"$name\"/>" ;;
    fail) echo "  FAIL $name"; failures=$((failures + 1))
          cases="$cases<testcase name=\"$name\"><failure/></testcase>" ;;
    sleep) # A long test, stopped with the runner when the job is cancelled.
           sleep "$arg" & sleeper=$!
           trap 'kill "$sleeper" 2>/dev/null; exit 143' TERM INT
           wait "$sleeper"; trap - TERM INT
           echo "  PASS $name"; cases="$cases<testcase name=\"$name\"/>" ;;
  esac
done < "$suite"
printf '<testsuite name="%s" tests="%d" failures="%d">%s</testsuite>\n' \
  "$(basename "$suite")" "$tests" "$failures" "$cases" > "$report/junit.xml"
echo "console-runner: $tests tests, $failures failed"
[ "$failures" -eq 0 ]
