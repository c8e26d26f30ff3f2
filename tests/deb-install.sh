#!/bin/sh
# The Debian packages (debian/) as a packager and a user meet them:
#  1. dpkg-buildpackage -b (nocheck, -j2) from a copy of the source tree,
#     so the tree itself stays clean; lintian errors fail the test.
#  2. dpkg -i of the packages into a throwaway root (dpkg --root), never the
#     real system. The root's dpkg database holds only this system's entries
#     of the packages ours depend on, so dpkg checks our Depends for real.
#     tessera-server is only unpacked: its maintainer scripts (systemd)
#     would have to run chrooted in a root without a shell.
#  3. What got installed runs from that root (LD_LIBRARY_PATH and
#     TESSERA_PLUGIN_DIR point into it; no chroot, so the system's GLib,
#     libsodium... stand in for the dependencies dpkg just checked): the
#     providers are listed, the installed tessera-license issues an offline
#     license for this machine and the installed offline plugin activates it,
#     through a product built against the installed libtessera-dev, and
#     through examples/python/product.py and the installed typelib.
#     The installed tessera-admin bootstraps a scratch database and the
#     installed tessera-server serves it on 127.0.0.1 until SIGTERM.
#  4. A second root with only libtessera0 (+ tessera-common, its dependency)
#     and tessera-plugin-offline: the other plugins are absent, a config that
#     asks for one names it, and the offline activation still works.
#  5. The packager's offline-only build (README, "Packaging"):
#     dpkg-buildpackage -Ppkg.tessera.offline-only makes exactly the
#     offline-only package set, whose default config tries offline only;
#     installed, its config, key folder and docs are what a user needs: one
#     `tessera-license trust` and an offline activation, nothing configured.
#
#   tests/deb-install.sh SRCDIR
#
# Exit 77 (skipped) without dpkg-buildpackage or debhelper, as a user other
# than root without fakeroot, or when run from inside a package build. TESSERA_DEB_KEEP=1 keeps the scratch dir.
set -eu
src=$(cd "$1" && pwd)

skip() {
  echo "deb-install: skipped: $*"
  exit 77
}
[ -z "${DEB_RULES_REQUIRES_ROOT:-}" ] || skip "inside dpkg-buildpackage"
for t in dpkg dpkg-buildpackage dpkg-deb dpkg-query dh cc pkg-config; do
  command -v "$t" >/dev/null 2>&1 || skip "$t is not installed (scripts/install-deps.sh)"
done
# dpkg gives the installed files to root: as another user, under fakeroot.
dpkg="dpkg"
if [ "$(id -u)" -ne 0 ]; then
  command -v fakeroot >/dev/null 2>&1 || skip "not root, and no fakeroot for dpkg --root"
  dpkg="fakeroot dpkg --force-not-root"
fi

# Whatever the caller's environment says must not steer the build or the runs.
unset MAKEFLAGS MFLAGS MAKELEVEL DESTDIR TESSERA_CONFIG TESSERA_PLUGIN_DIR TESSERA_PROVIDER \
  TESSERA_DEVMODE XDG_CONFIG_HOME LD_LIBRARY_PATH || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tessera-deb.XXXXXX")
if [ -n "${TESSERA_DEB_KEEP:-}" ]; then
  echo "deb-install: scratch dir kept: $tmp"
else
  trap 'rm -rf "$tmp"' EXIT
fi
start=$(date +%s)
step() { echo "deb-install: [$(($(date +%s) - start))s] $*"; }
fail() {
  echo "deb-install: FAILED: $*" >&2
  exit 1
}

# --- 1. build from a copy --------------------------------------------------
step "copying the source tree"
mkdir "$tmp/src"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # Tracked and new files (not ignored ones: no build trees), as they are now;
  # not what a package build of the tree may have left in debian/.
  (cd "$src" && git ls-files --cached --others --exclude-standard) \
    | grep -v -e '^obj-' -e '^debian/[^/]*/' -e '^debian/files$' -e '^debian/.*stamp$' \
    | while IFS= read -r f; do [ ! -e "$src/$f" ] || printf '%s\n' "$f"; done \
    | (cd "$src" && tar -cf - -T -) | tar -xf - -C "$tmp/src"
  mkdir -p "$tmp/src/debian/source"
  (cd "$src" && git ls-files --cached --others --exclude-standard debian/source) \
    | (cd "$src" && tar -cf - -T -) | tar -xf - -C "$tmp/src"
else
  tar -C "$src" --exclude=./.git --exclude='./build' --exclude='./build-*' \
    --exclude='./_build*' --exclude='./obj-*' -cf - . | tar -xf - -C "$tmp/src"
fi
[ -x "$tmp/src/debian/rules" ] || fail "no executable debian/rules in $src"
cp -a "$tmp/src" "$tmp/pristine"

step "dpkg-buildpackage -b (nocheck, noautodbgsym, -j2)"
if ! (cd "$tmp/src" && DEB_BUILD_OPTIONS="nocheck noautodbgsym parallel=2" \
      dpkg-buildpackage -b --no-sign -j2 -Pnocheck >"$tmp/build.log" 2>&1); then
  tail -n 60 "$tmp/build.log"
  fail "dpkg-buildpackage (full log: $tmp/build.log with TESSERA_DEB_KEEP=1)"
fi
debs=$(for d in "$tmp"/*.deb; do case $d in *-dbgsym_*) ;; *) echo "$d" ;; esac; done)
echo "$debs" | sed 's#.*/#  #'
deb() { # deb PACKAGE -> its .deb
  for d in $debs; do
    [ "$(dpkg-deb -f "$d" Package)" != "$1" ] || { echo "$d"; return 0; }
  done
  fail "package $1 was not built"
}
for p in libtessera0 libtessera-dev gir1.2-tessera-0 libtessera-doc tessera-common \
         tessera-plugin-offline tessera-plugin-testops tessera-plugin-devmode tessera-plugin-mock \
         tessera tessera-tools tessera-server; do
  deb "$p" >/dev/null
done

if command -v lintian >/dev/null 2>&1; then
  step "lintian"
  lintian --tag-display-limit 0 "$tmp"/*.changes >"$tmp/lintian.log" 2>&1 || true
  grep -v '^running with root' "$tmp/lintian.log" | sed 's/^/  /' || true
  ! grep -q '^E: ' "$tmp/lintian.log" || fail "lintian reports errors"
fi

# --- 2. throwaway roots ----------------------------------------------------
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
newroot() { # newroot DIR DEB... : an empty dpkg database knowing our dependencies
  r=$1
  shift
  mkdir -p "$r/var/lib/dpkg/info" "$r/var/lib/dpkg/updates" "$r/var/lib/dpkg/triggers"
  : >"$r/var/lib/dpkg/available"
  : >"$r/var/lib/dpkg/status"
  for d in "$@"; do dpkg-deb -f "$d" Pre-Depends Depends; done \
    | sed 's/^[A-Za-z-]*://; s/[,|]/\n/g' | sed 's/(.*//; s/:any//; s/[[:space:]]//g' \
    | grep -v -e '^$' -e '^tessera' -e '^libtessera' | sort -u >"$r/deps"
  while read -r p; do
    # A virtual or uninstalled name stays unknown: dpkg then refuses, rightly.
    # (Its stanza, less the conffiles, which are not in this root.)
    dpkg-query -s "$p" 2>/dev/null >"$r/stanza" || continue
    awk '/^Conffiles:/ { skip = 1; next } skip && /^ / { next } { skip = 0; print }' \
      "$r/stanza" >>"$r/var/lib/dpkg/status"
    echo >>"$r/var/lib/dpkg/status"
    for a in $(dpkg-query -W -f '${Architecture}\n' "$p"); do
      : >"$r/var/lib/dpkg/info/$p.list"
      : >"$r/var/lib/dpkg/info/$p:$a.list"
    done
  done <"$r/deps"
}
dpkg_root() { # dpkg_root DIR ARGS...
  r=$1
  shift
  $dpkg --root="$r" --log="$tmp/dpkg.log" --force-unsafe-io "$@" >"$tmp/dpkg.out" 2>&1 \
    || { cat "$tmp/dpkg.out"; fail "dpkg --root=$r $*"; }
}

full="$tmp/root-full"
all_but_server=""
for d in $debs; do
  [ "$(dpkg-deb -f "$d" Package)" = tessera-server ] || all_but_server="$all_but_server $d"
done
step "dpkg -i into $full: every package but tessera-server, which is unpacked"
# shellcheck disable=SC2086
newroot "$full" $debs
# shellcheck disable=SC2086
dpkg_root "$full" -i $all_but_server
dpkg_root "$full" --unpack "$(deb tessera-server)"
for p in libtessera0 libtessera-dev gir1.2-tessera-0 libtessera-doc tessera-common \
         tessera-plugin-offline tessera-plugin-testops tessera-plugin-devmode tessera-plugin-mock \
         tessera tessera-tools; do
  dpkg-query --root="$full" -W -f '${db:Status-Abbrev}' "$p" | grep -q '^ii' \
    || fail "$p is not installed in $full"
done
dpkg-query --root="$full" -W -f '  ${db:Status-Abbrev} ${Package} ${Version}\n' 'tessera*' 'libtessera*' \
  | grep -v '^  un'

libdir="$full/usr/lib/$multiarch"
for f in "$libdir/libtessera.so.0" "$full/usr/bin/tessera-license" "$full/usr/bin/tessera-server" \
         "$full/usr/bin/tessera-admin" "$full/lib/systemd/system/tessera-server.service" \
         "$full/lib/systemd/system/tessera-server@.service" \
         "$full/usr/share/doc/tessera-server/examples/tessera-server-postgresql.env" \
         "$full/etc/tessera/tessera.conf" "$full/usr/include/tessera/tessera.h" \
         "$libdir/pkgconfig/tessera.pc" "$libdir/cmake/Tessera/TesseraConfig.cmake" \
         "$libdir/girepository-1.0/Tessera-0.typelib" "$full/usr/share/gir-1.0/Tessera-0.gir" \
         "$full/usr/include/tessera/enum-types.h" "$full/usr/share/doc/Tessera-0/index.html" \
         "$full/usr/share/devhelp/books/Tessera-0"; do
  [ -e "$f" ] || fail "${f#"$full"} is not installed"
done
# Each tool's man page and completions, generated from its command table
# (tools/tool-cli-gen.c), not help2man's.
for t in tessera tessera-license tessera-admin tessera-server; do
  man="$full/usr/share/man/man1/$t.1.gz"
  [ -e "$man" ] || fail "the man page of $t is not installed"
  zcat "$man" | grep -q '^\.SH "*EXIT STATUS' || fail "the man page of $t has no EXIT STATUS"
  [ -e "$full/usr/share/bash-completion/completions/$t" ] \
    || fail "the bash completion of $t is not installed"
  [ -e "$full/usr/share/zsh/vendor-completions/_$t" ] \
    || fail "the zsh completion of $t is not installed"
done
for s in NoNewPrivileges=yes ProtectSystem=strict StateDirectory=tessera DynamicUser=yes; do
  grep -q "^$s" "$full/lib/systemd/system/tessera-server.service" \
    || fail "tessera-server.service lacks $s"
done
for s in NoNewPrivileges=yes ProtectSystem=strict DynamicUser=yes LoadCredential=kek: \
         "ExecStart=.*--key-encryption-key=%d/kek"; do
  grep -q "^$s" "$full/lib/systemd/system/tessera-server@.service" \
    || fail "tessera-server@.service lacks $s"
done
if command -v systemd-analyze >/dev/null 2>&1; then
  # Exposure 0 (locked down) to 10 (unsafe); fail above 2.5.
  for unit in tessera-server.service tessera-server@8443.service; do
    systemd-analyze security --offline=yes --root="$full" --threshold=25 "$unit" \
      >"$tmp/security.out" 2>&1 || { cat "$tmp/security.out"; fail "$unit exposure"; }
    grep 'Overall exposure' "$tmp/security.out" | sed "s/^→ */  $unit: /"
  done
fi

# --- 3. the installed programs ----------------------------------------------
run_in() { # run_in ROOT CMD... : CMD with the root's libtessera and plugins
  r=$1
  shift
  LD_LIBRARY_PATH="$r/usr/lib/$multiarch" TESSERA_PLUGIN_DIR="$r/usr/lib/$multiarch/tessera/plugins" \
    HOME="$tmp/home" "$@"
}
run_in "$full" ldd "$full/usr/bin/tessera-license" | grep -q "=> $libdir/libtessera.so.0 " \
  || fail "tessera-license does not load the installed libtessera"

step "a product built against the installed libtessera-dev (pkg-config)"
mkdir -p "$tmp/home"
# shellcheck disable=SC2046
cc -o "$tmp/product" "$tmp/src/examples/product.c" \
  $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs tessera) \
  || fail "examples/product.c does not build against the installed libtessera-dev"

providers() { # providers ROOT : the installed providers, as the installed tools list them
  r=$1
  if [ -x "$r/usr/bin/tessera" ]; then
    run_in "$r" env TESSERA_CONFIG="$tmp/offline.conf" "$r/usr/bin/tessera" providers 2>&1 || true
  else
    run_in "$r" env TESSERA_PROVIDER=help "$tmp/product" "$tmp/offline.conf" 2>&1 || true
  fi
}

tl="$full/usr/bin/tessera-license"
step "offline license issued by the installed tessera-license for this machine"
run_in "$full" "$tl" keygen --secret "$tmp/issuer.sec" --public "$tmp/issuer.pub" >/dev/null
mid=$(run_in "$full" "$tl" machine-id)
mkdir -p "$tmp/issued" "$tmp/home/licenses"
lic=$(run_in "$full" "$tl" issue --key "$tmp/issuer.sec" --machine-id "$mid" --product KRE \
        --subscription-end "$(date -u -d '+1 year' +%F)" --org deb-test --entitlement reports \
        --out "$tmp/issued")
run_in "$full" "$tl" verify "$lic" --trusted-key "$tmp/issuer.pub" >/dev/null \
  || fail "the installed tessera-license does not verify its own license"
cp "$lic" "$tmp/home/licenses/"
cat >"$tmp/offline.conf" <<EOF
[engine]
providers=offline
products=KSE;KRE

[provider:offline]
license-dir=$tmp/home/licenses
trusted-keys=$tmp/issuer.pub
EOF
sed 's/^providers=offline$/providers=testops;offline/' "$tmp/offline.conf" >"$tmp/online.conf"

step "installed providers"
out=$(providers "$full")
echo "$out" | sed 's/^/  /'
for p in offline testops devmode mock; do
  echo "$out" | grep -q "\b$p\b" || fail "provider $p is not listed in the full install"
done

activate() { # activate ROOT CONFIG
  run_in "$1" "$tmp/product" "$2" >"$tmp/act.out" 2>&1 || true
  sed 's/^/  /' "$tmp/act.out"
  grep -q '^license: product=KRE provider=offline .*org=deb-test' "$tmp/act.out"
}
step "offline activation in the full install"
activate "$full" "$tmp/offline.conf" || fail "offline activation in the full install"
# The installed typelib (gir1.2-tessera-0) from Python, as a product would
# use it: Debian's python3-gi is for /usr/bin/python3.
if /usr/bin/python3 -c 'import gi' >/dev/null 2>&1; then
  step "examples/python/product.py through the installed Tessera-0.typelib"
  run_in "$full" env GI_TYPELIB_PATH="$libdir/girepository-1.0" /usr/bin/python3 \
    "$tmp/src/examples/python/product.py" "$tmp/offline.conf" >"$tmp/py.out" 2>&1 || true
  sed 's/^/  /' "$tmp/py.out"
  grep -q '^license: product=KRE provider=offline ' "$tmp/py.out" \
    || fail "Python cannot activate through the installed typelib"
else
  echo "  (no python3-gi: the installed typelib is not loaded from Python)"
fi
if [ -x "$full/usr/bin/tessera" ]; then
  step "tessera run (the installed CLI) holds the offline license while a command runs"
  run_in "$full" env TESSERA_CONFIG="$tmp/offline.conf" "$full/usr/bin/tessera" machine-id \
    | grep -q "$mid" || fail "the installed tessera CLI does not print this machine's ID ($mid)"
  # shellcheck disable=SC2016
  run_in "$full" env TESSERA_CONFIG="$tmp/offline.conf" "$full/usr/bin/tessera" run --product KRE \
    -- sh -c 'echo "held: $TESSERA_RUN_PRODUCT"' >"$tmp/run.out" 2>&1 \
    || { cat "$tmp/run.out"; fail "tessera run --product KRE"; }
  sed 's/^/  /' "$tmp/run.out"
  grep -q '^held: KRE$' "$tmp/run.out" || fail "tessera run did not run the command"
fi

step "the installed tessera-admin and tessera-server on a scratch database"
mkdir "$tmp/state"
run_in "$full" "$full/usr/bin/tessera-admin" --database "$tmp/state/tessera.db" bootstrap \
  --org deb --name "Deb test" --owner owner@deb.example >/dev/null \
  || fail "the installed tessera-admin cannot bootstrap a database"
# Not through run_in: $! must be the server itself, not a subshell.
LD_LIBRARY_PATH="$libdir" "$full/usr/bin/tessera-server" --database "$tmp/state/tessera.db" \
  --listen 127.0.0.1:0 >"$tmp/server.out" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; [ -n "${TESSERA_DEB_KEEP:-}" ] || rm -rf "$tmp"' EXIT
i=0
while ! grep -q '^listening on ' "$tmp/server.out" && [ $i -lt 600 ]; do
  kill -0 $server 2>/dev/null || { cat "$tmp/server.out"; fail "tessera-server exited"; }
  sleep 0.1
  i=$((i + 1))
done
url=$(sed -n 's/^listening on //p' "$tmp/server.out")
[ -n "$url" ] || { kill $server; cat "$tmp/server.out"; fail "tessera-server did not start"; }
echo "  listening on $url"
if command -v curl >/dev/null 2>&1; then
  code=$(curl -s -o /dev/null -w '%{http_code}' "$url/api/v1/activate" -X POST -d '{}' || true)
  echo "  POST /api/v1/activate without a key: HTTP $code"
  [ "$code" = 401 ] || { kill $server; fail "tessera-server answered $code, not 401"; }
fi
kill -TERM $server
wait $server || fail "tessera-server did not exit cleanly on SIGTERM"
server=

# --- 4. offline only ---------------------------------------------------------
small="$tmp/root-offline"
step "dpkg -i into $small: libtessera0, tessera-common, tessera-plugin-offline only"
newroot "$small" "$(deb libtessera0)" "$(deb tessera-common)" "$(deb tessera-plugin-offline)"
dpkg_root "$small" -i "$(deb libtessera0)" "$(deb tessera-common)" "$(deb tessera-plugin-offline)"
plugins=$(ls "$small/usr/lib/$multiarch/tessera/plugins")
[ "$plugins" = tessera-offline.so ] || fail "plugins in the offline-only root: $plugins"
step "installed providers"
out=$(providers "$small")
echo "$out" | sed 's/^/  /'
echo "$out" | grep -q '\boffline\b' || fail "offline is not listed in the offline-only install"
for p in testops devmode mock; do
  ! echo "$out" | grep -q "\b$p\b" || fail "provider $p is listed in the offline-only install"
done
run_in "$small" "$tmp/product" "$tmp/online.conf" >"$tmp/act.out" 2>&1 && fail "testops config worked without testops"
sed 's/^/  /' "$tmp/act.out"
grep -q "provider 'testops' is not installed" "$tmp/act.out" \
  || fail "a config asking for the missing testops provider does not name it"
step "offline activation in the offline-only install"
activate "$small" "$tmp/offline.conf" || fail "offline activation in the offline-only install"

# --- 5. the packager's offline-only build (README, "Packaging") ---------------
step "dpkg-buildpackage -b --no-sign -tc -Ppkg.tessera.offline-only (+ nocheck, noautodbgsym, -j2)"
mkdir "$tmp/p"
cp -a "$tmp/pristine" "$tmp/p/src"
if ! (cd "$tmp/p/src" && DEB_BUILD_OPTIONS="nocheck noautodbgsym parallel=2" \
      dpkg-buildpackage -b --no-sign -tc -j2 -Ppkg.tessera.offline-only,nocheck >"$tmp/p/build.log" 2>&1); then
  tail -n 60 "$tmp/p/build.log"
  fail "dpkg-buildpackage -Ppkg.tessera.offline-only"
fi
set=$(for d in "$tmp"/p/*.deb; do dpkg-deb -f "$d" Package; done | grep -v -- '-dbgsym$' | sort | tr '\n' ' ')
echo "  $set"
[ "$set" = "gir1.2-tessera-0 libtessera-dev libtessera-doc libtessera0 tessera tessera-common tessera-plugin-offline tessera-tools " ] \
  || fail "the offline-only build made: $set"
dpkg-deb --fsys-tarfile "$tmp"/p/tessera-common_*.deb | tar -xOf - ./etc/tessera/tessera.conf \
  | grep -q '^providers=offline$' || fail "the offline-only default config does not say providers=offline"

step "the offline-only set, installed, works as installed"
off="$tmp/offroot"
offdebs=$(ls "$tmp"/p/*.deb | grep -v -- '-dbgsym_')
# shellcheck disable=SC2086
newroot "$off" $offdebs
# shellcheck disable=SC2086
dpkg_root "$off" -i $offdebs
oconf="$off/etc/tessera/tessera.conf"
grep -q '^providers=offline$' "$oconf" || fail "offline-only tessera.conf: no providers=offline"
! grep -qi 'testops\|server\|online' "$oconf" || fail "offline-only tessera.conf speaks of what is not installed"
[ -d "$off/etc/tessera/keys" ] || fail "the offline-only set has no /etc/tessera/keys"
[ ! -e "$off/usr/share/tessera/tessera-mock.conf" ] || fail "libtessera-dev ships a mock config without the mock"
for f in /usr/share/doc/tessera/license-file.md /usr/share/doc/tessera/offline.md \
         /usr/share/man/man1/tessera.1.gz /usr/share/man/man1/tessera-license.1.gz; do
  [ -e "$off$f" ] || fail "$f is not installed by the offline-only set"
done
# Only the library path is given: the library finds its plugins and its
# /etc/tessera beside it, and the tools their keys and docs folders.
orun() { LD_LIBRARY_PATH="$off/usr/lib/$multiarch" HOME="$tmp/offhome" "$@"; }
mkdir -p "$tmp/offhome/.katalon/license"
orun "$off/usr/bin/tessera-license" --help | grep -q "File format and examples: $off/usr/share/doc/tessera/license-file.md" \
  || fail "tessera-license --help does not name the installed license-file.md"
key=$(orun "$off/usr/bin/tessera-license" trust "$tmp/issuer.pub") || fail "tessera-license trust"
case "$key" in "$off/etc/tessera/keys/"*.pub) ;; *) fail "trust wrote $key" ;; esac
cp "$lic" "$tmp/offhome/.katalon/license/"
orun "$off/usr/bin/tessera" activate --product KRE >"$tmp/offact.out" 2>&1 \
  || { cat "$tmp/offact.out"; fail "offline activation with the installed config and one trusted key"; }
sed 's/^/  /' "$tmp/offact.out"
grep -q '^activated: KRE node-locked license .* from offline' "$tmp/offact.out" \
  || fail "unexpected activation: $(cat "$tmp/offact.out")"

# -tc: the tree is left as it was (README: run in the repository itself).
diff -r "$tmp/pristine" "$tmp/p/src" || fail "the offline-only build left the tree changed"

step "ok"
echo "deb-install: ok ($(($(date +%s) - start)) s)"
