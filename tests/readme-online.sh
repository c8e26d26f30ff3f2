#!/bin/sh
# Runs the README's online walk-through as a user would paste it, against
# this build tree, on a free port and a scratch database and HOME; fails if
# what it shows changed. Needs a Secret Service: ctest runs it under
# tests/with-keyring.sh.
set -eu
src=$1 build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Not 8444: another run (or the reader's own server) may hold it.
. "$src/tests/free-ports.sh"
port=$(free_ports 1)
sed "s#127.0.0.1:8444#127.0.0.1:$port#" "$src/examples/online.conf" > "$tmp/online.conf"
sed -n '/^## Online licenses: a walk-through/,/^```$/p' "$src/README.md" \
  | sed -n '/^```sh$/,/^```$/p' | sed '1d;$d' \
  | sed "s#/tmp/tessera-online.db#$tmp/tessera.db#g; s#127.0.0.1:8444#127.0.0.1:$port#g" \
  | sed "s#examples/online.conf#$tmp/online.conf#g; s#\$PWD/build/#$build/#g" \
  | sed "s#\([ =\"(]\)build/#\1$build/#g; s#^build/#$build/#" \
  > "$tmp/walk.sh"
[ -s "$tmp/walk.sh" ] || { echo "no online walk-through found in README.md"; exit 1; }
cd "$src"
mkdir "$tmp/home"
# Output to a file, not $(...): a walk that fails half-way leaves its
# background server holding the pipe, and the test would hang, not fail.
status=0
HOME="$tmp/home" XDG_STATE_HOME= XDG_CONFIG_HOME= TESSERA_CONFIG= TESSERA_API_KEY= \
  sh -e "$tmp/walk.sh" >"$tmp/out" 2>&1 || status=$?
pkill -f "$tmp/tessera.db" 2>/dev/null || true # the walk's server, if it failed before kill
out=$(cat "$tmp/out")
echo "$out"
[ "$status" -eq 0 ] || { echo "readme-online: the walk-through failed"; exit 1; }
[ "$(echo "$out" | grep -c '^activated: KRE floating license .* from testops (org acme)')" -eq 2 ]
[ "$(echo "$out" | grep -c '^usable: KRE floating license .* from testops (org acme)')" -eq 2 ]
[ "$(echo "$out" | grep -c '^released: KRE floating license .* from testops (org acme)')" -eq 2 ]
echo "$out" | grep -q '^tests run under '
echo "$out" | grep -q '^forgot 1 credential$'
# nothing recorded is left, and the key never reached a file
[ -z "$(find "$tmp/home" -name 'testops-*.session')" ]
! grep -rq 'tsk_' "$tmp/home"
echo "readme-online: ok"
