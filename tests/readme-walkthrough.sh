#!/bin/sh
# Runs the README's offline walk-through as a user would paste it, in a
# scratch HOME, against this build tree; fails if what it shows changed.
set -eu
src=$1 build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -n '/^## Offline licenses: a walk-through/,/^```$/p' "$src/README.md" \
  | sed -n '/^```sh$/,/^```$/p' | sed '1d;$d' \
  | sed "s#\$PWD/build/#@BUILD@/#g; s#build/#@BUILD@/#g; s#@BUILD@#$build#g" > "$tmp/walk.sh"
[ -s "$tmp/walk.sh" ] || { echo "no walk-through found in README.md"; exit 1; }
cd "$src"
out=$(HOME="$tmp/home" sh "$tmp/walk.sh" 2>&1) || true
echo "$out"
echo "$out" | grep -q '^license: product=KRE provider=offline .*kind=node-locked org=example-org'
echo "$out" | grep -q "^feature 'reports': enabled$"
echo "$out" | grep -q 'modified or damaged'
echo "$out" | grep -q '^exit status 1$'
echo "$out" | grep -q '^exit status 7$'
echo "readme-walkthrough: ok"
