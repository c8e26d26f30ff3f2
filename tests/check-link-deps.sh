#!/bin/sh
# What every process that links libtessera loads (issue 20): neither the core
# nor the offline plugin may have GIO or json-glib in DT_NEEDED (GIO is
# opened on first async use, core/gio-lazy.h; license files are parsed with
# Jansson), and no json_* function the core calls may share its name with
# one json-glib exports: a process that loaded json-glib first (the tools,
# the server) would bind the core's call to the wrong library. Both are
# linked with full RELRO (-z relro -z now, CMakeLists.txt).
#   check-link-deps.sh LIBTESSERA OFFLINE_PLUGIN LIBJSON_GLIB
status=0
for so in "$1" "$2"; do
  flags=$(readelf -d "$so" | grep -E '\((FLAGS|FLAGS_1)\)')
  if ! printf '%s\n' "$flags" | grep -q 'BIND_NOW\|NOW'; then
    echo "FAIL: $so is not linked with -z now (dynamic flags: $(echo $flags))"
    status=1
  fi
  if ! readelf -l "$so" | grep -q GNU_RELRO; then
    echo "FAIL: $so has no RELRO segment"
    status=1
  fi
  needed=$(readelf -d "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  for bad in libgio-2.0 libjson-glib-1.0; do
    if printf '%s\n' "$needed" | grep -q "^$bad"; then
      echo "FAIL: $so needs $bad (DT_NEEDED: $(echo $needed))"
      status=1
    fi
  done
done
jsonglib=$3
[ -r "$jsonglib" ] || { echo "FAIL: cannot read json-glib at '$jsonglib'"; exit 1; }
{
  clash=$(nm -D --undefined-only "$1" | awk '{ sub(/@.*/, "", $2); print $2 }' | grep '^json_' |
    sort -u | while read -r sym; do
      nm -D --defined-only "$jsonglib" | awk '{ sub(/@.*/, "", $3); print $3 }' |
        grep -qx "$sym" && echo "$sym"
    done)
  if [ -n "$clash" ]; then
    echo "FAIL: $1 calls json-glib namesakes: $(echo $clash)"
    status=1
  fi
}
echo "link dependencies: $([ $status = 0 ] && echo ok || echo FAILED)"
exit $status
