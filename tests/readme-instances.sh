#!/bin/sh
# Runs the README's walk-through of several instances on PostgreSQL as a
# user would paste it, against this build tree, on free ports and scratch
# files; fails if what it shows changed. ctest runs it under
# tests/with-postgres.sh (TESSERA_TEST_POSTGRES: a fresh database).
set -eu
src=$1 build=$2
[ -n "${TESSERA_TEST_POSTGRES:-}" ] || { echo "readme-instances: no TESSERA_TEST_POSTGRES"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Not 8451/8452: another run (or the reader's own servers) may hold them.
. "$src/tests/free-ports.sh"
p1=$(free_ports 2)
p2=$((p1 + 1))
sed -n '/^## Several instances on PostgreSQL: a walk-through/,/^```$/p' "$src/README.md" \
  | sed -n '/^```sh$/,/^```$/p' | sed '1d;$d' \
  | sed "s#127.0.0.1:8451#127.0.0.1:$p1#g; s#127.0.0.1:8452#127.0.0.1:$p2#g" \
  | sed "s#for port in 8451 8452#for port in $p1 $p2#" \
  | sed "s#/tmp/tessera-#$tmp/tessera-#g" \
  | sed "s#\$PWD/build/#$build/#g; s#\([ =\"(]\)build/#\1$build/#g; s#^build/#$build/#" \
  > "$tmp/walk.sh"
[ -s "$tmp/walk.sh" ] || { echo "no instances walk-through found in README.md"; exit 1; }
cd "$src"
mkdir "$tmp/home"
status=0
HOME="$tmp/home" XDG_STATE_HOME= XDG_CONFIG_HOME= TESSERA_CONFIG= TESSERA_API_KEY= \
  sh -e "$tmp/walk.sh" >"$tmp/out" 2>&1 || status=$?
pkill -f "key-encryption-key $tmp/" 2>/dev/null || true # the walk's servers, if it failed early
out=$(cat "$tmp/out")
echo "$out"
if [ "$status" -ne 0 ]; then
  echo "readme-instances: the walk-through failed; the servers said:"
  cat "$tmp/tessera-instances.log" 2>/dev/null || true
  exit 1
fi
echo "$out" | grep -qx 'one key'
echo "$out" | grep -qx "\"testops.server\":\"http://127.0.0.1:$p1\""
echo "$out" | grep -qx '"usable":true'
[ "$(echo "$out" | grep -cx '1')" -eq 1 ]
[ "$(echo "$out" | grep -cx '0')" -eq 1 ]
echo "readme-instances: ok"
