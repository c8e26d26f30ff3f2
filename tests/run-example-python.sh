#!/bin/sh
# Runs examples/python/product.py on the mock provider and checks what it
# prints (ctest sets GI_TYPELIB_PATH, LD_LIBRARY_PATH and TESSERA_PLUGIN_DIR).
set -eu
python=$1 example=$2 conf=$3 readme=$4
# The README shows the example whole: the two stay the same.
awk '/^## From Python, JavaScript/ { in_section = 1 }
     in_section && /^```python$/ { in_block = 1; next }
     in_block && /^```$/ { exit }
     in_block { print }' "$readme" | diff -u "$example" - ||
  { echo "README.md's Python example differs from $example"; exit 1; }
out=$("$python" "$example" "$conf")
echo "$out"
echo "$out" | grep -q '^license: product=KRE provider=mock id=example-kre-1$'
echo "$out" | grep -q "^feature 'reports': enabled$"
echo "$out" | grep -q '^released$'
# Not licensed: exit status 1 and the reason, with its error nick, on stderr.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '{"ops": {"activate": {"error": "quota-exceeded", "message": "all 3 seats are taken"}}}' > "$tmp/s.json"
printf '[engine]\nproviders=mock\n[provider:mock]\nscenario=s.json\n' > "$tmp/t.conf"
set +e
"$python" "$example" "$tmp/t.conf" 2> "$tmp/err"
rc=$?
set -e
cat "$tmp/err"
[ "$rc" -eq 1 ]
grep -q '(quota-exceeded): .*all 3 seats are taken' "$tmp/err"
# A bad configuration: exit status 2.
set +e
"$python" "$example" "$tmp/missing.conf" 2> "$tmp/err"
rc=$?
set -e
cat "$tmp/err"
[ "$rc" -eq 2 ]
echo "example-python: ok"
