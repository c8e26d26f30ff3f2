#!/usr/bin/env bash
# Browser tests of tessera-server's /admin/ pages (registered with ctest,
# label "web"): starts the real tessera-server on 127.0.0.1 (a free port)
# over a temporary SQLite database, bootstraps organizations, users and pools
# with tessera-admin, runs admin.spec.mjs (playwright-core driving Debian's
# Chromium, headless) and tears everything down.
#
#   run.sh TESSERA_SERVER TESSERA_ADMIN TESSERA_LICENSE [OUT_DIR]
#
# OUT_DIR (default: a temporary folder) receives failure screenshots and the
# server log. Nothing is skipped: without node or chromium the test fails,
# saying what to install (scripts/install-deps.sh installs both).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
server_bin="${1:?usage: run.sh TESSERA_SERVER TESSERA_ADMIN TESSERA_LICENSE [OUT_DIR]}"
admin_bin="${2:?missing TESSERA_ADMIN}"
license_bin="${3:?missing TESSERA_LICENSE}"
chromium="${TESSERA_CHROMIUM:-/usr/bin/chromium}"

fail() { echo "web tests: $*" >&2; exit 1; }

command -v node >/dev/null || fail "node is not installed (Node.js >= 20): run scripts/install-deps.sh"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || fail "node $(node --version) is too old: playwright-core needs Node.js >= 20"
command -v npm >/dev/null || fail "npm is not installed: run scripts/install-deps.sh"
command -v curl >/dev/null || fail "curl is not installed: run scripts/install-deps.sh"
[ -x "$chromium" ] || fail "$chromium is missing: apt-get install chromium (scripts/install-deps.sh)"
for b in "$server_bin" "$admin_bin" "$license_bin"; do
  [ -x "$b" ] || fail "$b is not built"
done
# Absolute: the spec runs from this folder.
server_bin="$(realpath "$server_bin")" admin_bin="$(realpath "$admin_bin")"
license_bin="$(realpath "$license_bin")"

# playwright-core from the lock file, once (node_modules is not committed).
if [ ! -f "$here/node_modules/playwright-core/package.json" ] \
   || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) \
    || fail "npm ci in $here failed (the npm registry must be reachable once)"
fi

work="$(mktemp -d /tmp/tessera-web.XXXXXX)"
out="${4:-$work/out}"
mkdir -p "$out"
server_pid=
cleanup() {
  local status=$?
  [ "$status" -eq 0 ] || keep=1
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "${keep:-0}" = 1 ]; then
    echo "web tests: kept $work (screenshots and server log in $out)" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

db="$work/tessera.db"
ta() { "$admin_bin" --database "$db" "$@"; }
setpw() { printf '%s\n' "$2" | ta password set --email "$1" >/dev/null; }
year="$(date -u -d '+1 year' +%F)"

# Two organizations: the owner belongs to both (the org picker).
ta bootstrap --org acme --name "Acme Inc." --owner owner@acme.example >/dev/null
ta bootstrap --org beta --name "Beta GmbH" --owner owner@acme.example >/dev/null
admin_id="$(ta member add --org acme --email admin@acme.example --role admin)"
member_id="$(ta member add --org acme --email mia@acme.example --role member)"
for u in dev1 dev2 dev3; do ta member add --org acme --email "$u@acme.example" --role member >/dev/null; done
kse_nl="$(ta pool create --org acme --product KSE --kind node-locked --billing annual --quota 2 --subscription-end "$year")"
kse_fl="$(ta pool create --org acme --product KSE --kind floating --billing monthly --quota 2 --subscription-end "$year")"
kre_nl="$(ta pool create --org acme --product KRE --kind node-locked --billing annual --quota 3 --subscription-end "$year")"
kre_fl="$(ta pool create --org acme --product KRE --kind floating --billing annual --quota 3 --subscription-end "$year")"
# A month of a busy pool's history (KRE node-locked, quota 3), written as the
# servers' hourly flushes would have left it: working hours of weekdays at or
# near the quota with refusals at the peaks, quiet nights and weekends. The
# usage chart's screenshot in docs/ is drawn from it.
python3 - "$db" "$kre_nl" <<'PY'
import sqlite3, sys, time
db, pool = sys.argv[1], sys.argv[2]
con = sqlite3.connect(db)
now = int(time.time()) // 3600 * 3600
for i in range(1, 30 * 24):
    hour = now - i * 3600
    tm = time.gmtime(hour)
    day = i // 24
    busy = tm.tm_wday < 5 and 8 <= tm.tm_hour < 18
    if busy:
        peak = min(3, 1 + (tm.tm_hour * 7 + day * 5) % 3 + (1 if day < 10 else 0))
        activations = 3 + (tm.tm_hour * 5 + day) % 9
        refused = (1 + day % 3) if peak == 3 and tm.tm_hour % 3 == 1 else 0
    elif tm.tm_hour in (2, 3):  # the nightly CI run
        peak, activations, refused = 1, 1, 0
    else:
        continue
    con.execute("INSERT INTO usage_hours (pool_id, hour, peak, quota, activations, refused_quota,"
                " refused_machines, refused_expired) VALUES (?, ?, ?, 3, ?, ?, 0, 0)",
                (pool, hour, peak, activations, refused))
    for k in range(peak + 1):
        con.execute("INSERT INTO usage_seen (pool_id, hour, kind, id) VALUES (?, ?, 'u', ?)",
                    (pool, hour, "seed-user-%d" % k))
        con.execute("INSERT INTO usage_seen (pool_id, hour, kind, id) VALUES (?, ?, 'm', ?)",
                    (pool, hour, "SEED-MACHINE-%d" % k))
con.commit()
PY
setpw owner@acme.example 'owner passphrase 1'
setpw admin@acme.example 'admin passphrase 2'
setpw mia@acme.example 'member passphrase 3'
# Mia's API key: the "CLI" activation a web admin force-releases.
member_key="$(ta key create --user "$member_id" --label ci)"

"$server_bin" --database "$db" --listen 127.0.0.1:0 >"$work/server.out" 2>"$out/server.log" &
server_pid=$!
url=
for _ in $(seq 100); do
  url="$(sed -n 's/^listening on \(http:\/\/127\.0\.0\.1:[0-9]*\).*/\1/p' "$work/server.out")"
  [ -n "$url" ] && break
  kill -0 "$server_pid" 2>/dev/null || fail "tessera-server exited: $(tail -3 "$out/server.log")"
  sleep 0.1
done
[ -n "$url" ] || fail "tessera-server did not say where it listens"
curl -sf "$url/api/v1/public-key" >"$work/server.pub" || fail "no public key from $url"

export TESSERA_URL="$url" TESSERA_DB="$db" TESSERA_ADMIN="$admin_bin" TESSERA_LICENSE="$license_bin" \
  TESSERA_TRUSTED_KEY="$work/server.pub" TESSERA_MEMBER_KEY="$member_key" \
  TESSERA_POOL_KSE_NL="$kse_nl" TESSERA_POOL_KSE_FL="$kse_fl" TESSERA_POOL_KRE_NL="$kre_nl" \
  TESSERA_POOL_KRE_FL="$kre_fl" TESSERA_ADMIN_ID="$admin_id" TESSERA_MEMBER_ID="$member_id" \
  TESSERA_CHROMIUM="$chromium" TESSERA_WEB_OUT="$out" TESSERA_WORK="$work"
set +e
(cd "$here" && node --test --test-concurrency=1 --test-reporter=spec admin.spec.mjs)
rc=$?
set -e
if [ "$rc" -ne 0 ]; then
  keep=1
  echo "web tests: FAILED; server log: $out/server.log" >&2
fi
exit "$rc"
