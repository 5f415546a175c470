#!/usr/bin/env python3
# fetch_umqtt.py: fetch umqtt.simple (pinned, hash-checked) for the host and the board.
# MIT license; Copyright (c) 2026 hanmq
#
# The MQTT client the firmware uses is micropython-lib's umqtt.simple, as published on
# PyPI under the name `micropython-umqtt.simple`. pip cannot install that sdist (it has
# no build files), so this fetches it by name from the index's JSON API the way
# MicroPython's upip did, checks its sha256 against the pin below, caches the sdist in
# build/cache/ and extracts only umqtt/simple.py to build/lib/umqtt/simple.py. The same
# file is used by the host tests (unix port) and deployed to the board.
#
# Idempotent and offline-safe: when the cached sdist matches the pin, nothing is fetched,
# and build/lib/umqtt/simple.py is rewritten only if it differs from the sdist's copy.
# CPython standard library only.
#
#   python tools/fetch_umqtt.py [--build DIR] [--force]
#
# Exit status: 0 ok, 1 network/hash/archive failure.

import argparse
import hashlib
import io
import json
import os
import sys
import tarfile
import urllib.error
import urllib.request

PACKAGE = "micropython-umqtt.simple"
VERSION = "1.3.4"
SHA256 = "b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f"
INDEX = "https://pypi.org/pypi/%s/json" % PACKAGE
MEMBER = "umqtt/simple.py"  # inside the sdist's top directory
TIMEOUT_S = 30

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class FetchError(Exception):
    pass


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as r:
            return r.read()
    except (urllib.error.URLError, OSError) as e:
        raise FetchError("cannot fetch %s: %s" % (url, getattr(e, "reason", e))) from e


def _sdist_url():
    try:
        meta = json.loads(_get(INDEX))
        files = meta["releases"][VERSION]
    except (ValueError, KeyError) as e:
        raise FetchError("%s: no release %s in the index answer (%s)" % (INDEX, VERSION, e)) from e
    for f in files:
        if f.get("packagetype") == "sdist" and f["url"].endswith(".tar.gz"):
            return f["url"]
    raise FetchError("%s %s: the index lists no .tar.gz sdist" % (PACKAGE, VERSION))


def _member(data):
    """umqtt/simple.py from the sdist bytes."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for m in tar.getmembers():
            # "<name>-<version>/umqtt/simple.py"; no other path is used or trusted
            if m.isfile() and m.name.split("/", 1)[-1] == MEMBER:
                return tar.extractfile(m).read()
    raise FetchError("the sdist holds no %s" % MEMBER)


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def fetch(build=None, force=False, log=print):
    """Make sure <build>/lib/umqtt/simple.py is the pinned release; return its path."""
    build = build or os.path.join(ROOT, "build")
    cache = os.path.join(build, "cache", "%s-%s.tar.gz" % (PACKAGE, VERSION))
    dest = os.path.join(build, "lib", "umqtt", "simple.py")
    data = None if force else _read(cache)
    if data is not None and _sha256(data) != SHA256:
        data = None  # damaged or foreign cache: fetch again
    if data is None:
        url = _sdist_url()
        log("fetch_umqtt: downloading %s" % url)
        data = _get(url)
        digest = _sha256(data)
        if digest != SHA256:
            raise FetchError(
                "sha256 mismatch for %s %s: got %s, pinned %s" % (PACKAGE, VERSION, digest, SHA256)
            )
        _write(cache, data)
    src = _member(data)
    if _read(dest) == src:
        return dest  # already in place: nothing to do
    _write(dest, src)
    # No umqtt/__init__.py: MicroPython (unix port 1.29, ESP32) imports a directory
    # without one as a namespace package, as micropython-lib's umqtt packages expect.
    log("fetch_umqtt: %s %s -> %s" % (PACKAGE, VERSION, os.path.relpath(dest, ROOT)))
    return dest


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fetch the pinned umqtt.simple into build/lib/.")
    ap.add_argument("--build", help="build directory (default: <repo>/build)")
    ap.add_argument("--force", action="store_true", help="ignore the cache, fetch again")
    args = ap.parse_args(argv)
    try:
        fetch(args.build, args.force)
    except (FetchError, tarfile.TarError, OSError) as e:
        print("fetch_umqtt: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
