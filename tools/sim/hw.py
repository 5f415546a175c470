# hw.py (host): the hardware seam of firmware/hw.py for runs on a PC.
# MIT license; Copyright (c) 2026 hanmq
#
# DO NOT UPLOAD THIS FILE TO YOUR MICROPYTHON DEVICE. tools/simulate.py runs the
# unchanged firmware under the MicroPython unix port with this directory first on
# MICROPYPATH: the meter's UART is a TCP connection to a replayed meter
# (HANMQ_UART=host:port), Wi-Fi is always joined, the chip id comes from HANMQ_NODE.
# Setup mode: the access point is simulated on loopback: the portal serves HTTP on
# 127.0.0.1:HANMQ_HTTP_PORT (default 8080) and DNS on 127.0.0.1:HANMQ_DNS_PORT
# (default 5353); HANMQ_HTTP_PORT also turns on the status page in normal operation.
# HANMQ_SCAN (JSON [[ssid, rssi, security], ...]) replaces the Wi-Fi scan's networks;
# HANMQ_BUTTON=1 holds the setup button at power-up.

import gc
import json
import os
import socket
from binascii import unhexlify

#: Exit status of a simulated reset (hw.reset()): tools/simulate.py starts again.
RESET_EXIT = 75

#: What the scan finds by default: a mesh network seen twice, a hidden one, an open
#: one, and a name that needs escaping in HTML.
_SCAN = (
    ("Hjemme", -48, 3),
    ("Telenor2341ab", -63, 3),
    ("Hjemme", -71, 3),
    ("", -55, 3),
    ("Get-2G-5A1F", -80, 4),
    ("NTNU-guest", -86, 0),
    ("Kaf\u00e9 <\"Ol'&>", -90, 0),
)


class _UART:
    """Non-blocking reads from a replayed meter over TCP, like machine.UART(timeout=0).
    Like the ESP32 driver's receive buffer (which lives outside the MicroPython heap),
    a fixed buffer holds what arrived."""

    def __init__(self, where, parity):
        host, port = where.rsplit(":", 1)
        self.parity = parity
        self.closed = False
        self.sock = socket.socket()
        self.sock.connect(socket.getaddrinfo(host, int(port))[0][-1])
        self.sock.setblocking(False)
        self.buf = bytearray(2048)
        self.mv = memoryview(self.buf)
        self.start = 0  # held bytes are buf[start:end]
        self.end = 0

    def any(self):
        if not self.closed and self.end < len(self.buf):
            try:
                n = self.sock.readinto(self.mv[self.end :])
            except OSError:  # EAGAIN: nothing new
                n = None
            if n == 0:
                self.closed = True
                self.sock.close()
            elif n:
                self.end += n
        return self.end - self.start

    def readinto(self, buf):
        k = min(len(buf), self.end - self.start)
        if not k:
            return None
        buf[:k] = self.mv[self.start : self.start + k]
        self.start += k
        if self.start == self.end:
            self.start = self.end = 0
        elif self.start > 1024:  # keep room at the end
            n = self.end - self.start
            self.mv[0:n] = self.mv[self.start : self.end]
            self.start, self.end = 0, n
        return k


_uart = None


def uart(parity):
    # The replayed meter sends clean bytes whatever the parity; one connection serves
    # every re-open (the firmware re-opens the UART when it flips parity).
    global _uart
    if _uart is None:
        _uart = _UART(os.getenv("HANMQ_UART") or "127.0.0.1:4059", parity)
    _uart.parity = parity
    return _uart


def uart_closed(u):
    return u.closed and u.start == u.end


class _WLAN:
    def active(self, *a):
        return True

    def isconnected(self):
        return True

    def connect(self, ssid, password):
        pass

    def disconnect(self):
        pass

    def status(self, what=None):
        return -61 if what == "rssi" else 1010

    def config(self, *a, **kw):
        return "hanmq-sim"

    def scan(self):
        # (ssid, bssid, channel, RSSI, security, hidden), as network.WLAN.scan()
        nets = json.loads(os.getenv("HANMQ_SCAN")) if os.getenv("HANMQ_SCAN") else _SCAN
        return [
            (n[0].encode(), bytes(6), 1 + i % 11, n[1], n[2], not n[0]) for i, n in enumerate(nets)
        ]


def station():
    return _WLAN()


def access_point():
    return _WLAN()


_ap = None


def ap_open(essid):
    global _ap
    _ap = essid
    print("[sim] access point %s up (simulated: the portal is on 127.0.0.1)" % essid)
    return "127.0.0.1"


def ap_close():
    print("[sim] access point %s down" % _ap)


def portal_ports():
    return int(os.getenv("HANMQ_HTTP_PORT") or 8080), int(os.getenv("HANMQ_DNS_PORT") or 5353)


def status_addr():
    port = os.getenv("HANMQ_HTTP_PORT")
    return ("127.0.0.1", int(port)) if port else None


def led(on):
    pass


def button_held():
    return os.getenv("HANMQ_BUTTON") == "1"


def unique_id():
    return unhexlify(os.getenv("HANMQ_NODE") or "a1b2c3")


class _WDT:
    def __init__(self):
        self.fed = 0

    def feed(self):
        self.fed += 1


def watchdog(timeout_ms):
    return _WDT()


def keep_fed(wdt):
    pass


def reset():
    print("[sim] reset")
    raise SystemExit(RESET_EXIT)


def free_heap():
    return gc.mem_free()
