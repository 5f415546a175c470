#!/bin/sh
# host_deps.sh: the Debian packages `make test` (or `make demo`) needs that pip cannot
# give; installs the missing ones with apt-get when it may (root, or sudo without a
# password), otherwise stops at once with the one command to run.
# MIT license; Copyright (c) 2026 hanmq
#
#   sh tools/host_deps.sh test PYTHON    mosquitto, chromium, chromium-driver, openssl, venv
#   sh tools/host_deps.sh demo PYTHON    only what the virtual environment needs
#
# Each package is looked for by a file it installs, so a machine that has everything
# runs no apt-get at all.
set -eu
what=${1:-test}
python=${2:-python3}
missing=""

"$python" -c 'import venv, ensurepip' 2>/dev/null || missing="$missing python3-venv"
if [ "$what" = test ]; then
  [ -x /usr/sbin/mosquitto ] || missing="$missing mosquitto"  # the reference broker
  [ -x /usr/bin/chromium ] || missing="$missing chromium"  # the setup page's real browser
  [ -x /usr/bin/chromedriver ] || missing="$missing chromium-driver"  # Selenium drives it
  command -v openssl >/dev/null || missing="$missing openssl"  # certificates, TLS tests
fi
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ]; then
  sudo=""
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo="sudo"
else
  echo "make $what needs these Debian packages:$missing" >&2
  echo "install them with:  sudo apt-get install -y$missing   (then run make $what again)" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "make $what needs:$missing (no apt-get here: install them by hand)" >&2
  exit 1
fi
echo "make $what: installing$missing (apt-get)" >&2
$sudo apt-get update -q
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
