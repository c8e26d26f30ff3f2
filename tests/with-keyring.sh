#!/bin/sh
# Runs a command ("$@") with a real, unlocked Secret Service: a private
# D-Bus session bus (dbus-run-session) with gnome-keyring-daemon on it,
# keyrings in a temporary folder (never the user's own), removed at exit.
#
#   tests/with-keyring.sh ./build/tests/test-testops
#   tests/with-keyring.sh valgrind ... ./build/tests/test-testops
#
# Why it is done this way (gnome-keyring 42, Debian 12):
# - The bus has no service directories (our own bus config), so nothing is
#   D-Bus-activated behind our back: without it a client's first call
#   activates a second gnome-keyring-daemon (org.freedesktop.secrets.service)
#   that has no password and tries to start a GUI prompter (no display) to
#   create the 'login' collection, and storing fails with "Object does not
#   exist at path /org/freedesktop/secrets/collection/login".
# - `--unlock` with the password on stdin creates the 'login' collection in
#   a fresh keyring folder and unlocks it headless; it is then the default
#   collection libsecret stores into (SECRET_COLLECTION_DEFAULT).
# - `--foreground` in the background (not --daemonize), so that we know its
#   PID and kill it at exit; we wait until it owns org.freedesktop.secrets.
#   The command runs as a child, not exec'd, so that this shell is still
#   there to kill the daemon (dbus-run-session only ends the bus).
# The command inherits TESSERA_TEST_KEYRING=1, so a test can tell it runs
# with a keyring.
set -eu

if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARG...]" >&2
  exit 2
fi

if [ -z "${TESSERA_KEYRING_INNER:-}" ]; then
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/tessera-keyring-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT INT TERM
  cat >"$tmp/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=$tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
  status=0
  TESSERA_KEYRING_INNER="$tmp" dbus-run-session --config-file="$tmp/bus.conf" -- "$0" "$@" \
    || status=$?
  exit "$status"
fi

tmp=$TESSERA_KEYRING_INNER
unset TESSERA_KEYRING_INNER
mkdir -p "$tmp/data" "$tmp/control"
chmod 700 "$tmp/data" "$tmp/control"

# The keyrings live in $XDG_DATA_HOME/keyrings of the daemon only; the
# command keeps the caller's environment.
printf '%s' "tessera-test-keyring" | XDG_DATA_HOME="$tmp/data" \
  gnome-keyring-daemon --foreground --unlock --components=secrets \
  --control-directory="$tmp/control" >"$tmp/daemon.out" 2>"$tmp/daemon.err" &
daemon=$!
trap 'kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true' EXIT INT TERM

owned=false
i=0
while [ "$i" -lt 600 ]; do
  if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null \
    | grep -q 'boolean true'; then
    owned=true
    break
  fi
  if ! kill -0 "$daemon" 2>/dev/null; then
    break
  fi
  sleep 0.1
  i=$((i + 1))
done
if ! $owned; then
  echo "with-keyring.sh: gnome-keyring-daemon did not come up:" >&2
  cat "$tmp/daemon.out" "$tmp/daemon.err" >&2
  exit 1
fi
# What the daemon prints (GNOME_KEYRING_CONTROL=..., maybe SSH_AUTH_SOCK)
# is what a login session exports.
while IFS= read -r line; do
  case "$line" in
  *=*) export "${line?}" ;;
  esac
done <"$tmp/daemon.out"

export TESSERA_TEST_KEYRING=1
status=0
"$@" || status=$?
exit "$status"
