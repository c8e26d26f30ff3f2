#!/bin/sh
# Fails unless every plugin exports exactly one symbol, tessera_backend_entry_*.
status=0
count=0
for dir in "$@"; do
  for so in "$dir"/tessera-*.so; do
    [ -e "$so" ] || continue
    file "$so" 2>/dev/null | grep -q ELF || head -c4 "$so" | grep -q ELF || continue
    syms=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' | sort -u)
    n=$(printf '%s\n' "$syms" | grep -c .)
    count=$((count + 1))
    if [ "$n" -ne 1 ] || ! printf '%s\n' "$syms" | grep -q '^tessera_backend_entry_'; then
      echo "FAIL: $so exports: $(echo $syms)"
      status=1
    fi
  done
done
[ "$count" -gt 0 ] || { echo "FAIL: no plugin found in $*"; exit 1; }
echo "checked $count plugins: $([ $status = 0 ] && echo ok || echo FAILED)"
exit $status
