#!/bin/sh
# Runs the CI job example against this build with the offline provider and
# a license issued on the spot; checks each outcome a CI system acts on.
#   test-ci-runner.sh SRCDIR BUILDDIR
set -eu
src=$1 build=$2
here=$src/examples/ci-runner
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export TESSERA="$build/tools/tessera" TESSERA_PLUGIN_DIR="$build/plugins" HOME="$tmp/home"
tl=$build/tools/tessera-license
mkdir -p "$HOME"

# The administrator's key, the machine's configuration, one license.
"$tl" keygen --secret "$tmp/issuer.sec" --public "$tmp/issuer.pub" > /dev/null
printf '[engine]\nproviders=offline\nproducts=KRE\n[provider:offline]\nlicense-dir=%s\ntrusted-keys=%s\nstate-dir=%s\n' \
  "$tmp/license" "$tmp/issuer.pub" "$tmp/state" > "$tmp/tessera.conf"
export TESSERA_CONFIG="$tmp/tessera.conf"

printf 'login pass\ncheckout pass\n' > "$tmp/green.suite"
printf 'login pass\ncheckout fail\n' > "$tmp/red.suite"
printf 'slow sleep 30\n' > "$tmp/slow.suite"

expect() { # expect STATUS PATTERN -- command...
  want=$1 pattern=$2; shift 3
  set +e; out=$("$@" 2>&1); got=$?; set -e
  echo "$out"
  [ "$got" -eq "$want" ] || { echo "FAIL: exit status $got, expected $want"; exit 1; }
  echo "$out" | grep -q "$pattern" || { echo "FAIL: output lacks '$pattern'"; exit 1; }
}

# No license yet: the job fails as a licensing failure, and no test runs.
expect 2 'licensing failed (tessera exit status 2): no test ran' -- "$here/ci-job.sh" "$tmp/green.suite" "$tmp/r0"
[ ! -e "$tmp/r0/junit.xml" ]

# The user installs the license file the administrator issued.
lic=$("$tl" issue --key "$tmp/issuer.sec" --machine-id "$("$TESSERA" machine-id)" --product KRE \
        --subscription-end "$(date -u -d '+1 year' +%F)" --out "$tmp")
"$TESSERA" offline install "$lic"

# Green suite: 0. Red suite: 1, the runner's status passed through.
expect 0 'all tests passed' -- "$here/ci-job.sh" "$tmp/green.suite" "$tmp/r1"
grep -q 'tests="2" failures="0"' "$tmp/r1/junit.xml"
expect 1 'some tests failed' -- "$here/ci-job.sh" "$tmp/red.suite" "$tmp/r2"
grep -q 'failures="1"' "$tmp/r2/junit.xml"

# One license = one session: while a job holds it, a second job that will
# not wait is refused (quota, 4); once the first is cancelled (SIGTERM, as a
# CI system cancels a job), the seat is free again.
"$here/ci-job.sh" "$tmp/slow.suite" "$tmp/r3" > "$tmp/slow.log" 2>&1 &
job=$!
i=0
until grep -q 'licensed' "$tmp/slow.log" 2>/dev/null; do
  i=$((i + 1)); [ $i -lt 300 ] || { echo "FAIL: the slow job never started"; exit 1; }
  sleep 0.1
done
TESSERA_WAIT=0 expect 4 'licensing failed (tessera exit status 4)' -- "$here/ci-job.sh" "$tmp/green.suite" "$tmp/r4"
kill -TERM "$job"
set +e; wait "$job"; got=$?; set -e
cat "$tmp/slow.log"
grep -q 'cancelled (status 143); the license was released' "$tmp/slow.log"
[ "$got" -eq 143 ] || { echo "FAIL: the cancelled job exited $got, expected 143"; exit 1; }
expect 0 'all tests passed' -- "$here/ci-job.sh" "$tmp/green.suite" "$tmp/r5"
echo "example-ci-runner: ok"
