# board_selftest.py: runs ON THE BOARD (MicroPython), started by tools/selftest.py with
# `mpremote connect PORT run` once FRAMES below is filled in. Not part of the firmware.
# MIT license; Copyright (c) 2026 hanmq
#
# It uses the deployed firmware's own modules: han.decoder decodes, hw (the hardware
# seam, firmware/hw.py) opens the UART, the station and the heap figures, board.py names
# the pins. Under the MicroPython unix port with tools/sim first on the module path the
# same program runs on the simulated board (tools/selftest.py --simulate). It never opens
# config.json. It judges nothing: it prints what it finds, one line each, and the host
# compares:
#   I <sys.implementation>
#   U <os.uname()>                  ("U -": a port without os.uname)
#   B <board.NAME> <UART_ID> <RX_PIN> <LOOPBACK_TX_PIN>  ("?": a board.py without it)
#   M <when> <gc.mem_free()> <gc.mem_alloc()>  after gc.collect(), at start and end
#   H <total> <free> <largest free block> <minimum free ever>  per ESP-IDF data region
#   F <n> <us> <reading JSON>       FRAMES[n] decoded (us: the decoder's microseconds)
#   E <n> <reason>                  FRAMES[n] failed a check, or gave no reading
#   W <RSSI> <channel> <security> <hidden> <SSID in hex, "-" if none>, strongest first
#   L <parity> <hex written> <hex read back, "-" if none>   the UART loopback
#   X <step> <error>                a step could not be done
#   END
# The firmware's watchdog runs on after mpremote's soft reset (machine.WDT cannot be
# stopped): a watchdog made again here reconfigures it and is fed; the host resets the
# board afterwards, which starts the firmware again.

import gc
import os
import sys
import time
from binascii import hexlify, unhexlify

import board
import hw

try:
    from han.decoder import Decoder
except ImportError as e:
    Decoder = None
    print("X decode", repr(e))

#: The recorded frames to decode, in hex (tools/selftest.py fills them in).
FRAMES = ()

#: Written out of the loopback TX pin: the HDLC flag, all-zero and all-one bytes,
#: alternating bits, odd and even bit counts (the parity bit differs), the top bit.
_PATTERN = b" hanmq loopback \x7e\x00\xff\x55\xaa\x01\x80\x7d\x07\xfe\x10\xef"

try:
    _wdt = hw.watchdog(60000)
except Exception:
    _wdt = None


def _feed():
    if _wdt is not None:
        _wdt.feed()


def _info():
    print("I", sys.implementation)
    un = getattr(os, "uname", None)
    print("U", un() if un else "-")
    print("B", board.NAME, board.UART_ID, board.RX_PIN, getattr(board, "LOOPBACK_TX_PIN", "?"))


def _heap(when):
    gc.collect()
    print("M", when, gc.mem_free(), gc.mem_alloc())


def _idf_heap():
    for r in hw.heap_info():
        print("H %d %d %d %d" % tuple(r))


def _decode():
    if Decoder is None:
        return
    buf = bytearray(1024)  # one frame buffer for every decoder, as the firmware has
    for n in range(len(FRAMES)):
        _feed()
        data = unhexlify(FRAMES[n])
        t = [0, time.ticks_us(), 0]  # readings, start, microseconds

        def good(rd):
            t[2] = time.ticks_diff(time.ticks_us(), t[1])
            t[0] += 1
            if t[0] == 1:
                print("F", n, t[2], rd.to_json())

        def bad(reason, offset):
            print("E", n, reason)

        Decoder(good, bad, buf=buf).feed(data)
        if not t[0]:
            print("E", n, "no reading")
        data = None


def _scan():
    sta = hw.station()
    try:
        nets = sta.scan()
    except OSError:
        sta.disconnect()  # an attempt to join under way forbids a scan
        nets = sta.scan()
    nets.sort(key=lambda e: -e[3])
    for e in nets:
        print("W", e[3], e[2], e[4], 1 if e[5] else 0, hexlify(e[0]).decode() or "-")


def _loopback(parity, name):
    pat = name + _PATTERN
    u = hw.uart(parity, True)
    got = bytearray(len(pat) + 32)
    mv = memoryview(got)
    time.sleep_ms(20)  # the TX pin just became an output: what that gave is not ours
    while u.any():
        u.readinto(mv)
    u.write(pat)
    n = 0
    limit = len(pat) * 11 * 1000 // 2400 + 500  # its time on the wire, and some
    t0 = time.ticks_ms()
    while n < len(got) and time.ticks_diff(time.ticks_ms(), t0) < limit:
        _feed()
        k = u.readinto(mv[n:]) if u.any() else None
        if k:
            n += k
        else:
            time.sleep_ms(10)
    print("L", name.decode(), hexlify(pat).decode(), hexlify(mv[:n]).decode() or "-")


def _step(name, f, *args):
    _feed()
    try:
        f(*args)
    except Exception as e:
        print("X", name, repr(e))


_step("info", _info)
_step("heap", _heap, "start")
_step("idf-heap", _idf_heap)
_step("decode", _decode)
_step("scan", _scan)
_step("loopback-8E1", _loopback, 0, b"8E1")
_step("loopback-8N1", _loopback, None, b"8N1")
_step("uart", hw.uart, 0)  # as the firmware opens it (the reset afterwards frees the pin)
_step("heap", _heap, "end")
print("END")
