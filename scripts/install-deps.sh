#!/usr/bin/env bash
# Installs the Debian 12 packages Tessera needs to build and test.
# Idempotent: installs only what is missing, so CI pays for apt only once.
set -euo pipefail

packages=(
  build-essential cmake pkg-config      # toolchain
  libglib2.0-dev                        # GLib, GIO, GModule: objects, threads, plugins
  libjson-glib-dev                      # JSON: mock scenarios, server protocol, tools
  libjansson-dev                        # the core's license payload parser (no GIO at load, issue 20)
  libsodium-dev                         # Ed25519 signatures, Argon2id
  libsoup-3.0-dev                       # tessera-server's HTTP server, the online plugin's client
  libsqlite3-dev                        # tessera-server's embedded default store
  libpq-dev                             # tessera-server's PostgreSQL store (database = postgresql://...)
  postgresql                            # PostgreSQL store tests: tests/with-postgres.sh runs initdb/pg_ctl from /usr/lib/postgresql/15/bin
  libsecret-1-dev                       # online plugin: API keys cached in the Secret Service keyring
  gnome-keyring dbus dbus-bin           # keyring tests: a real gnome-keyring-daemon in dbus-run-session
  curl openssl                          # server tests: raw HTTP requests, test TLS certificates
  valgrind                              # leak checks of the test programs
  clang-format                          # style check
  cppcheck clang-tidy clang-tools       # static analysis (scripts/static-analysis.sh; scan-build is in clang-tools)
  util-linux                            # setpriv: permission tests drop to 'nobody'
  file binutils                         # export check of the plugins (nm)
  faketime                              # clock-rollback tests run the real attack: a faked clock
  strace                                # fault injection: fsync failing with EIO in the server
  clang libclang-rt-14-dev              # libFuzzer harnesses (fuzz/): clang with its fuzzer/sanitizer runtimes
  dpkg-dev debhelper fakeroot lintian   # Debian packages (debian/): built, checked and installed by tests/deb-install.sh
  zsh                                   # the zsh completions of the tools load (tests/test-completion.sh)
  ccache                                # scripts/build-matrix.sh: its 12 build configurations share compiled objects
  chromium                              # browser tests of the /admin/ pages (tests/web/, playwright-core)
  stress-ng                             # scripts/test-under-load.sh keeps the machine busy while every test runs
  abigail-tools                         # scripts/abi-check.sh: abidw/abidiff against the ABI baseline abi/libtessera.abi
  gobject-introspection libgirepository1.0-dev  # Tessera-0.gir and its typelib (TESSERA_INTROSPECTION)
  python3-gi gir1.2-glib-2.0 gjs        # tests/python/ and the gjs smoke test load the typelib
  gi-docgen                             # the API reference (TESSERA_DOCS), generated from the .gir
)
# Node.js and npm for playwright-core (tests/web/): the machine's own when it
# has them (CI's machine has Node.js 20 with npm); otherwise Debian's. Debian
# 12's nodejs is 18, older than playwright-core asks for (>= 20): then
# tests/web/run.sh fails saying so. tests/web/run.sh runs 'npm ci' itself.
if ! command -v node >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
