#!/bin/sh
# A CI job: runs the console runner under one KRE license (one session) held
# by `tessera run` for exactly as long as the tests run, and tells a
# licensing failure apart from failing tests.
#
#   ci-job.sh SUITE REPORT_DIR
#
# Environment: TESSERA (the tessera tool; default: tessera on PATH),
# TESSERA_CONFIG (the configuration, as for any Tessera product),
# TESSERA_WAIT (seconds to wait for a free seat; default 600).
#
# Exit status: the runner's (0 all passed, 1 some failed); tessera's own
# codes 2-10 when no license could be held (docs/tessera.1, EXIT STATUS);
# 128+N if the runner was killed by signal N.
set -u
here=$(cd "$(dirname "$0")" && pwd)
tessera=${TESSERA:-tessera}
suite=$1 report=$2

# The license is taken before the runner starts and released when it ends.
# A CI system cancels a job with SIGTERM to the job's shell: pass it on to
# tessera, which passes it on to the runner, releases, and exits 128+15;
# the job waits for that, so the seat is free when the job is over.
"$tessera" run --product KRE --wait "${TESSERA_WAIT:-600}" -- \
  "$here/console-runner.sh" "-testSuitePath=$suite" "-reportFolder=$report" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT HUP
wait "$pid"
status=$?
# A trapped signal interrupts wait: wait again for tessera's own status.
while kill -0 "$pid" 2>/dev/null; do
  wait "$pid"
  status=$?
done

case $status in
  0) echo "ci-job: all tests passed" ;;
  1) echo "ci-job: some tests failed (report: $report/junit.xml)" ;;
  2|3|4|5|6|7|8|9|10)
     # tessera already said why on stderr (one line).
     echo "ci-job: licensing failed (tessera exit status $status): no test ran" ;;
  129|130|143) echo "ci-job: cancelled (status $status); the license was released" ;;
  *) echo "ci-job: the runner ended with status $status" ;;
esac
exit "$status"
