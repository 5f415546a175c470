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
# HANMQ_SCAN (JSON [[ssid, rssi, security], ...]) lists the Wi-Fi scan's networks;
# HANMQ_BUTTON=1 holds the setup button at power-up.

import gc
import os
import socket
from binascii import unhexlify

#: Exit status of a simulated reset (hw.reset()): tools/simulate.py starts again.
RESET_EXIT = 75

#: This module stands in for firmware/hw.py in the heap it measures, so it is kept as
#: small as that one (about 3 KB on the 64-bit port): few functions, one small buffer.

class _UART:
    """Non-blocking reads from a replayed meter over TCP, like machine.UART(timeout=0).
    The socket's kernel buffer plays the ESP32 driver's receive buffer (which lives
    outside the MicroPython heap); a small buffer here holds what any() has counted."""

    def __init__(self, where):
        host, port = where.rsplit(":", 1)
        s = self.sock = socket.socket()
        s.connect(socket.getaddrinfo(host, int(port))[0][-1])
        s.setblocking(False)
        self.mv = memoryview(bytearray(256))
        self.n = 0  # bytes held: mv[0:n]
        self.closed = False

    def any(self):
        if not self.closed and self.n < len(self.mv):
            try:
                k = self.sock.readinto(self.mv[self.n :])
            except OSError:  # EAGAIN: nothing new
                k = None
            if k == 0:
                self.closed = True
                self.sock.close()
            elif k:
                self.n += k
        return self.n

    def readinto(self, buf):
        k = min(len(buf), self.n)
        if not k:
            return None
        buf[:k] = self.mv[:k]
        self.n -= k
        self.mv[: self.n] = self.mv[k : k + self.n]
        return k


_uart = None


def uart(parity):
    # The replayed meter sends clean bytes whatever the parity; one connection serves
    # every re-open (the firmware re-opens the UART when it flips parity).
    global _uart
    if _uart is None:
        _uart = _UART(os.getenv("HANMQ_UART") or "127.0.0.1:4059")
    return _uart


def uart_closed(u):
    return u.closed and not u.n


class _WLAN:
    """The station: always joined; its scan finds the networks in HANMQ_SCAN (JSON
    [[ssid, rssi, security], ...]; tools/simulate.py sets it)."""

    def isconnected(self):
        return True

    def connect(self, ssid, password):
        pass

    disconnect = isconnected

    def status(self, what):
        return -61  # RSSI: the firmware asks only for that

    def scan(self):
        # (ssid, bssid, channel, RSSI, security, hidden), as network.WLAN.scan()
        import json

        nets = json.loads(os.getenv("HANMQ_SCAN") or "[]")
        return [(n[0].encode(), bytes(6), 1 + i % 11, n[1], n[2], not n[0])
                for i, n in enumerate(nets)]


def station():
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
    feed = led  # feeding does nothing on the host


def watchdog(timeout_ms):
    return _WDT()


keep_fed = led


def reset():
    print("[sim] reset")
    raise SystemExit(RESET_EXIT)


def free_heap():
    return gc.mem_free()
