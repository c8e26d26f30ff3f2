#!/bin/sh
# Runs the example product on the mock provider and checks what it prints.
set -eu
exe=$1 conf=$2 plugins=$3
out=$(TESSERA_PLUGIN_DIR="$plugins" "$exe" "$conf")
echo "$out"
echo "$out" | grep -Eq '^machine id: [0-9A-Z]{4}(-[0-9A-Z]{4}){3}$'
echo "$out" | grep -q '^license: product=KRE provider=mock id=example-kre-1 kind=session org=example-org'
echo "$out" | grep -q "^feature 'reports': enabled$"
echo "$out" | grep -q '^released$'
# The testers' config shipped in data/ (no scenario: the mock grants).
data_conf=$(dirname "$conf")/../data/tessera-mock.conf
out=$(TESSERA_PLUGIN_DIR="$plugins" "$exe" "$data_conf")
echo "$out"
echo "$out" | grep -Eq '^machine id: [0-9A-Z]{4}(-[0-9A-Z]{4}){3}$'
echo "$out" | grep -q '^license: product=KRE provider=mock '
# No config change at all: TESSERA_PROVIDER swaps in the mock.
out=$(TESSERA_PROVIDER=mock TESSERA_PLUGIN_DIR="$plugins" "$exe" "$(dirname "$conf")/offline.conf")
echo "$out" | grep -q "^license: product=KRE provider=mock "
# Not licensed: a scenario that refuses gives exit status 1 and a reason on stderr.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '{"ops": {"activate": {"error": "quota-exceeded", "message": "all 3 seats are taken"}}}' > "$tmp/s.json"
printf '[engine]\nproviders=mock\n[provider:mock]\nscenario=s.json\n' > "$tmp/t.conf"
set +e
TESSERA_PLUGIN_DIR="$plugins" "$exe" "$tmp/t.conf" 2> "$tmp/err"
rc=$?
set -e
cat "$tmp/err"
[ "$rc" -eq 1 ]
grep -q 'all 3 seats are taken' "$tmp/err"
echo "example-product: ok"
