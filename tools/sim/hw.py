# hw.py (host): the hardware seam of firmware/hw.py for runs on a PC.
# MIT license; Copyright (c) 2026 hanmq
#
# DO NOT UPLOAD THIS FILE TO YOUR MICROPYTHON DEVICE. tools/simulate.py runs the
# unchanged firmware under the MicroPython unix port with this directory first on
# MICROPYPATH: the meter's UART is a TCP connection to a replayed meter
# (HANMQ_UART=host:port), Wi-Fi is always joined, the chip id comes from HANMQ_NODE.

import gc
import os
import socket
from binascii import unhexlify


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


def station():
    return _WLAN()


def access_point():
    return _WLAN()


def led(on):
    pass


def button_held():
    return False


def unique_id():
    return unhexlify(os.getenv("HANMQ_NODE") or "a1b2c3")


class _WDT:
    def __init__(self):
        self.fed = 0

    def feed(self):
        self.fed += 1


def watchdog(timeout_ms):
    return _WDT()


def reset():
    raise SystemExit(0)


def free_heap():
    return gc.mem_free()
