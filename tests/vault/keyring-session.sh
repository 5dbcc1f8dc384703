#!/bin/bash
# Runs "$@" inside a private D-Bus session with an unlocked gnome-keyring
# (Secret Service), headless: the real OS keyring for the vault's tests.
#   usage: dbus-run-session -- tests/vault/keyring-session.sh CMD...
# Needs Debian dbus, dbus-user-session, gnome-keyring, libsecret-tools.
# Adapted from the project's peers notes (keyring-session.sh).
set -e
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}; chmod 700 "$XDG_RUNTIME_DIR"
export HOME=${KEYRING_HOME:-$(mktemp -d)}          # keyrings live under $HOME/.local/share/keyrings
# Creates and unlocks the 'login' keyring (the default collection).
eval "$(printf 'test-pw' | gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL
export COMMSD_TEST_SECRET_SERVICE=1
"$@"
