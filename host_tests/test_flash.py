# test_flash.py: tools/flash.py without hardware: arguments, port checks, image checks,
# checksums, and the exact esptool command lines per board (dry run).
# MIT license; Copyright (c) 2026 hanmq

import errno
import hashlib
import os
import shlex
import subprocess
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "tools"))

import flash  # noqa: E402
import serialport  # noqa: E402

# The facts the table must hold, written out: esptool chip name and image offset.
EXPECTED = {
    "esp32_devkit": ("ESP32_GENERIC", "esp32", "0x1000"),
    "esp32c3_supermini": ("ESP32_GENERIC_C3", "esp32c3", "0x0"),
    "esp32s2_mini": ("LOLIN_S2_MINI", "esp32s2", "0x1000"),
}


def fake_image(chip_id, offset, size=0x9000):
    """Enough of a MicroPython image to pass the checks: ESP image magic, the chip id in
    the extended header, the partition table magic at flash 0x8000."""
    img = bytearray(b"\xff" * size)
    img[0] = 0xE9
    img[12:14] = chip_id.to_bytes(2, "little")
    img[0x8000 - offset : 0x8000 - offset + 2] = b"\xaa\x50"
    return bytes(img)


def image_for(board, tmp_path, name=None):
    info = flash.IMAGES[EXPECTED[board][0]]
    path = tmp_path / (name or "image.bin")
    path.write_bytes(fake_image(info["chip_id"], info["offset"]))
    return str(path)


@pytest.fixture
def pty():
    """A real character device that nothing else holds, as a stand-in serial port."""
    master, slave = os.openpty()
    yield os.ttyname(slave)
    os.close(master)
    os.close(slave)


@pytest.fixture
def no_esptool(monkeypatch):
    calls = []

    def fake_run(cmd, *a, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(flash.subprocess, "run", fake_run)
    return calls


def run(capsys, *argv):
    try:
        rc = flash.main(list(argv))
    except SystemExit as e:  # argparse
        rc = e.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_every_board_has_an_image_entry():
    assert sorted(EXPECTED) == flash.boards()
    for board, (firmware, chip, offset) in EXPECTED.items():
        assert flash.board_setting(board, "FIRMWARE") == firmware
        assert flash.IMAGES[firmware]["chip"] == chip
        assert "0x%x" % flash.IMAGES[firmware]["offset"] == offset


@pytest.mark.parametrize("board", sorted(EXPECTED))
def test_dry_run_prints_the_esptool_command(board, tmp_path, capsys, no_esptool):
    img = image_for(board, tmp_path)
    rc, out, err = run(capsys, "--board", board, "--port", "/dev/ttyUSB0", "--firmware", img,
                       "--dry-run")
    assert rc == 0, err
    _, chip, offset = EXPECTED[board]
    want = [sys.executable, "-m", "esptool", "--chip", chip, "--port", "/dev/ttyUSB0",
            "--baud", "460800", "write-flash", "--erase-all", offset, img]
    assert "$ " + shlex.join(want) in out.splitlines()
    assert no_esptool == []  # a dry run runs nothing, and needs no port


def test_keep_files_and_baud(tmp_path, capsys, no_esptool):
    img = image_for("esp32c3_supermini", tmp_path)
    rc, out, _ = run(capsys, "--board", "esp32c3_supermini", "--port", "/dev/ttyACM0",
                     "--firmware", img, "--keep-files", "--baud", "115200", "--dry-run")
    assert rc == 0
    want = [sys.executable, "-m", "esptool", "--chip", "esp32c3", "--port", "/dev/ttyACM0",
            "--baud", "115200", "write-flash", "0x0", img]
    assert "$ " + shlex.join(want) in out.splitlines()


def test_dry_run_without_image_names_the_pinned_download(capsys, no_esptool):
    rc, out, _ = run(capsys, "--board", "esp32c3_supermini", "--port", "/dev/ttyACM0", "--dry-run")
    assert rc == 0
    assert ("https://micropython.org/resources/firmware/ESP32_GENERIC_C3-20260824-v1.29.0.bin"
            in out)
    assert "ESP32_GENERIC_C3-20260824-v1.29.0.bin" in out.splitlines()[-1]


def test_flashes_through_esptool(tmp_path, capsys, pty, no_esptool):
    img = image_for("esp32_devkit", tmp_path)
    rc, out, err = run(capsys, "--board", "esp32_devkit", "--port", pty, "--firmware", img)
    assert rc == 0, err
    assert no_esptool == [[sys.executable, "-m", "esptool", "--chip", "esp32", "--port", pty,
                           "--baud", "460800", "write-flash", "--erase-all", "0x1000", img]]
    assert "make deploy PORT=%s BOARD=esp32_devkit" % pty in out


def test_esptool_failure_is_explained(tmp_path, capsys, pty, monkeypatch):
    monkeypatch.setattr(flash.subprocess, "run",
                        lambda cmd, *a, **k: subprocess.CompletedProcess(cmd, 2))
    img = image_for("esp32_devkit", tmp_path)
    rc, _, err = run(capsys, "--board", "esp32_devkit", "--port", pty, "--firmware", img)
    assert rc == 1
    assert "esptool failed (exit 2)" in err and "BOOT" in err


# ---- arguments ----


def test_board_is_required(capsys):
    rc, _, err = run(capsys, "--port", "/dev/ttyUSB0")
    assert rc == 2 and "--board" in err


def test_unknown_board(capsys, no_esptool):
    rc, _, err = run(capsys, "--board", "esp8266", "--port", "/dev/ttyUSB0", "--dry-run")
    assert rc == 2
    assert "unknown board 'esp8266'" in err and "esp32_devkit" in err


def test_unreadable_image(capsys, tmp_path, no_esptool):
    rc, _, err = run(capsys, "--board", "esp32_devkit", "--firmware", str(tmp_path / "nope.bin"),
                     "--dry-run")
    assert rc == 2 and "cannot read" in err


# ---- the port, checked before esptool runs ----


def test_missing_port(capsys, tmp_path, no_esptool):
    img = image_for("esp32_devkit", tmp_path)
    rc, _, err = run(capsys, "--board", "esp32_devkit", "--port", "/dev/ttyUSB97",
                     "--firmware", img)
    assert rc == 1
    assert "flash: no serial port /dev/ttyUSB97: plug the board in, or pass PORT=..." in err
    assert no_esptool == []


def test_no_port_given(capsys, no_esptool):
    rc, _, err = run(capsys, "--board", "esp32_devkit")
    assert rc == 1
    assert "no serial port given: pass PORT=/dev/ttyUSB0" in err
    assert no_esptool == []


def test_not_a_serial_port(capsys, tmp_path, no_esptool):
    rc, _, err = run(capsys, "--board", "esp32_devkit", "--port", str(tmp_path))
    assert rc == 1 and "is not a serial port" in err


def test_permission_denied(capsys, tmp_path, pty, monkeypatch, no_esptool):
    real_open = os.open

    def denied(path, *a, **kw):
        if path == pty:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path, *a, **kw)

    monkeypatch.setattr(serialport.os, "open", denied)
    img = image_for("esp32_devkit", tmp_path)
    rc, _, err = run(capsys, "--board", "esp32_devkit", "--port", pty, "--firmware", img)
    assert rc == 1
    assert "permission denied on %s" % pty in err and "usermod -aG" in err
    assert no_esptool == []


def test_busy_port_names_the_program(capsys, tmp_path, pty, no_esptool):
    holder = subprocess.Popen(["sleep", "30"], stdin=open(pty, "rb"))
    try:
        img = image_for("esp32_devkit", tmp_path)
        rc, _, err = run(capsys, "--board", "esp32_devkit", "--port", pty, "--firmware", img)
    finally:
        holder.kill()
        holder.wait()
    assert rc == 1
    assert "%s is busy" % pty in err and "pid %d sleep" % holder.pid in err
    assert no_esptool == []


# ---- the image ----


def test_image_for_another_chip_is_refused(capsys, tmp_path, pty, no_esptool):
    img = image_for("esp32c3_supermini", tmp_path)  # a C3 image for an ESP32 board
    rc, _, err = run(capsys, "--board", "esp32_devkit", "--port", pty, "--firmware", img)
    assert rc == 1
    assert "this image is for ESP32-C3, but the board has ESP32" in err
    assert no_esptool == []


@pytest.mark.parametrize("data,why", [
    (b"<html>404</html>" + b"\0" * 64, "not an ESP firmware image"),
    (fake_image(0, 0x1000)[:0x1000], "no partition table at 0x8000"),  # an .app-bin
])
def test_not_a_whole_image_is_refused(data, why, capsys, tmp_path, pty, no_esptool):
    path = tmp_path / "x.bin"
    path.write_bytes(data)
    rc, _, err = run(capsys, "--board", "esp32_devkit", "--port", pty, "--firmware", str(path))
    assert rc == 1 and why in err
    assert no_esptool == []


def test_pinned_name_with_wrong_checksum_is_refused(capsys, tmp_path, pty, no_esptool,
                                                    monkeypatch):
    monkeypatch.setitem(flash.IMAGES, "ESP32_GENERIC",
                        dict(flash.IMAGES["ESP32_GENERIC"], sha256="ab" * 32))
    img = image_for("esp32_devkit", tmp_path, name=flash.image_name("ESP32_GENERIC"))
    rc, _, err = run(capsys, "--board", "esp32_devkit", "--port", pty, "--firmware", img)
    assert rc == 1
    assert "sha256 mismatch" in err and "pinned " + "ab" * 32 in err
    assert no_esptool == []


def test_download_checksum_mismatch_is_refused(tmp_path, monkeypatch):
    data = fake_image(0, 0x1000)
    monkeypatch.setattr(flash, "_download", lambda url: data)
    monkeypatch.setitem(flash.IMAGES, "ESP32_GENERIC",
                        dict(flash.IMAGES["ESP32_GENERIC"], sha256="cd" * 32))
    with pytest.raises(flash.Refused, match="sha256 mismatch"):
        flash.fetch("ESP32_GENERIC", cache=str(tmp_path), log=lambda *a: None)
    assert os.listdir(tmp_path) == []  # nothing kept


def test_download_with_pinned_checksum_is_used(tmp_path, monkeypatch):
    data = fake_image(0, 0x1000)
    got = []
    monkeypatch.setattr(flash, "_download", lambda url: got.append(url) or data)
    monkeypatch.setitem(flash.IMAGES, "ESP32_GENERIC",
                        dict(flash.IMAGES["ESP32_GENERIC"],
                             sha256=hashlib.sha256(data).hexdigest()))
    path = flash.fetch("ESP32_GENERIC", cache=str(tmp_path), log=lambda *a: None)
    assert got == ["https://micropython.org/resources/firmware/"
                   "ESP32_GENERIC-20260824-v1.29.0.bin"]
    assert open(path, "rb").read() == data
    flash.fetch("ESP32_GENERIC", cache=str(tmp_path), log=lambda *a: None)
    assert len(got) == 1  # cached: not fetched again


def test_unpinned_download_is_not_flashed(tmp_path, monkeypatch):
    data = fake_image(5, 0x0)
    monkeypatch.setattr(flash, "_download", lambda url: data)
    assert flash.IMAGES["ESP32_GENERIC_C3"]["sha256"] is None  # nothing verified here
    with pytest.raises(flash.Refused) as e:
        flash.fetch("ESP32_GENERIC_C3", cache=str(tmp_path), log=lambda *a: None)
    path = os.path.join(str(tmp_path), "ESP32_GENERIC_C3-20260824-v1.29.0.bin")
    assert "no verified sha256" in str(e.value)
    assert hashlib.sha256(data).hexdigest() in str(e.value)
    assert "FIRMWARE=" + path in str(e.value)  # what to run once the file is trusted
    assert open(path, "rb").read() == data

