#!/bin/sh
# An install into any prefix works where it lands, moved or not, with no
# environment variable: `cmake --install BUILD --prefix P`, then the tree is
# moved elsewhere, and from there `tessera providers` finds the moved plugin
# folder, `tessera-license trust` puts the issuer's key into the moved
# etc/tessera/keys, and an offline activation succeeds. Usage:
#   prefix-install.sh BUILD_DIR
set -eu
build=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "prefix-install: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$tmp/first" >/dev/null
mv "$tmp/first" "$tmp/moved"
p="$tmp/moved"
home="$tmp/home"
mkdir -p "$home"
# Nothing from the caller's environment: no LD_LIBRARY_PATH, no TESSERA_*.
run() { env -i HOME="$home" PATH=/usr/bin:/bin "$@"; }

# The installed config names the offline provider alone in an offline-only
# build; otherwise (the online provider first, unconfigured here) the user's
# own config picks the offline provider, still with no variable set.
conf="$p/etc/tessera/tessera.conf"
[ -f "$conf" ] || fail "no $conf installed"
if ! grep -q '^providers=offline$' "$conf"; then
  mkdir -p "$home/.config/tessera"
  printf '[engine]\nproviders=offline\nproducts=KSE;KRE\n[provider:offline]\nlicense-dir=~/lic\ntrusted-keys=%s/etc/tessera/keys\n' \
    "$p" >"$home/.config/tessera/tessera.conf"
  mkdir -p "$home/lic"
  licdir="$home/lic"
else
  mkdir -p "$home/.katalon/license"
  licdir="$home/.katalon/license"
fi

cd "$tmp"
run "$p/bin/tessera-license" keygen --secret "$tmp/issuer.sec" --public "$tmp/issuer.pub" >/dev/null
trusted=$(run "$p/bin/tessera-license" trust "$tmp/issuer.pub") || fail "trust failed"
case "$trusted" in
  "$p/etc/tessera/keys/"*.pub) ;;
  *) fail "trust wrote $trusted, not into the moved $p/etc/tessera/keys" ;;
esac
run "$p/bin/tessera-license" --help | grep -q "File format and examples: $p/share/doc/tessera/license-file.md" \
  || fail "tessera-license --help does not name the installed license-file.md"
[ -f "$p/share/doc/tessera/license-file.md" ] || fail "license-file.md is not installed"

# With the key trusted, the provider loads from the moved plugin folder.
out=$(run "$p/bin/tessera" providers 2>&1) || fail "tessera providers failed: $out"
echo "$out" | grep -q "^plugin directory: $p/lib[^ ]*/tessera/plugins$" \
  || fail "tessera providers does not use the moved plugin folder: $out"
echo "$out" | grep -q '^  offline ' || fail "the offline plugin is not listed: $out"


mid=$(run "$p/bin/tessera" machine-id)
run "$p/bin/tessera-license" issue --key "$tmp/issuer.sec" --machine-id "$mid" --product KRE \
  --subscription-end "$(date -u -d '+1 year' +%F)" --out "$licdir" >/dev/null
out=$(run "$p/bin/tessera" activate --product KRE 2>&1) || fail "offline activation failed: $out"
echo "$out" | grep -q '^activated: KRE node-locked license .* from offline' \
  || fail "unexpected activation output: $out"
echo "prefix-install: a moved --prefix install lists its plugins, trusts a key and activates offline"
