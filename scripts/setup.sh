#!/usr/bin/env bash
# First command of the README: on a fresh Debian 12 machine, install what is
# needed, build, and run the main job end to end on the embedded default:
# tessera-server on SQLite (loopback), an organization with a pool of KRE
# floating seats, a member's API key, and a command run under one online
# seat by the tessera CLI; then the example product on the mock provider.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

work=$(mktemp -d "${TMPDIR:-/tmp}/tessera-setup-XXXXXX")
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

echo
echo "== tessera-server on SQLite ($work/tessera.db), 127.0.0.1 only"
build/server/tessera-server --database "$work/tessera.db" --listen 127.0.0.1:0 \
  >"$work/server.out" 2>"$work/server.log" &
server=$!
for _ in $(seq 600); do
  grep -q '^listening on ' "$work/server.out" 2>/dev/null && break
  sleep 0.1
done
url=$(sed -n 's/^listening on //p' "$work/server.out")
[ -n "$url" ] || { cat "$work/server.log" >&2; echo "setup: the server did not start" >&2; exit 1; }
echo "listening on $url"

ta() { build/tools/tessera-admin --database "$work/tessera.db" "$@"; }
ta bootstrap --org acme --name "Acme Inc." --owner owner@acme.example >/dev/null
pool=$(ta pool create --org acme --product KRE --kind floating --billing annual --quota 5 \
         --subscription-end "$(date -u -d '+1 year' +%F)")
alice=$(ta member add --org acme --email alice@acme.example --role member)
key=$(ta key create --user "$alice" --label setup)
curl -s "$url/api/v1/public-key" >"$work/server.pub"
# A CI machine has no desktop keyring: the key comes from the environment on
# every run (key-storage=env-only), never from a file.
cat >"$work/tessera.conf" <<CONF
[engine]
providers=testops
products=KRE
[provider:testops]
server=$url
allow-http=true
server-key=$work/server.pub
key-storage=env-only
state-dir=$work/state
CONF

echo
echo "== A console runner under one online KRE seat (tessera run)"
TESSERA_PLUGIN_DIR="$PWD/build/plugins" TESSERA_API_KEY="$key" \
  build/tools/tessera --config "$work/tessera.conf" run --product KRE -- \
  sh -c 'echo "running under license $TESSERA_RUN_LICENSE_ID"; build/tools/tessera-admin --database "$0" sessions --org acme --pool "$1"' \
  "$work/tessera.db" "$pool"
echo "after the run, sessions left on the server:"
ta sessions --org acme --pool "$pool"

echo
echo "== The example product, licensed by the mock provider (config: examples/example.conf)"
TESSERA_PLUGIN_DIR="$PWD/build/plugins" build/examples/tessera-example-product examples/example.conf
