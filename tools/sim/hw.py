# hw.py (host): the hardware seam of firmware/hw.py for runs on a PC: a simulated board.
# MIT license; Copyright (c) 2026 hanmq
#
# DO NOT UPLOAD THIS FILE TO YOUR MICROPYTHON DEVICE. tools/simulate.py runs the
# unchanged firmware under the MicroPython unix port with this directory first on
# MICROPYPATH (with time.py and socket.py, the board's clock and network stack). The
# rest of the board lives in the host process (tools/simboard.py), reached over two
# TCP connections:
# - HANMQ_UART: the meter's line. It carries what the UART receives for the parity it
#   is set to (simboard.Line); this side reports each (re)configuration ("p", 0 even
#   / 1 none) and every byte taken out of the driver's buffer ("r", count), so the host
#   can hold the driver's 4 KB buffer to its size and drop what overflows it; a UART
#   opened with a TX pin (the self-test's loopback) sends each byte written ("w", byte),
#   which the host's loopback wire, if there is one, brings back as a UART receives it.
# - HANMQ_CTL: the rest. The host sends single bytes: W/w Wi-Fi (the station's
#   network) up/down, B/b the button pressed/released, D/d the DNS server dead/alive,
#   and "S<speed>;" for the clock's new speed.
#   This side sends lines: "wdt <ms>" (watchdog started), "feed" (now and then),
#   "reset", "ap 1"/"ap 0", "host <name>". A reset is done by the host, which kills
#   this process at once (nothing runs on: no finally, no flush) and starts it anew.
# Without HANMQ_CTL (a run by hand) the board is always joined and resets by exiting.
# HANMQ_SCAN (JSON [[ssid, rssi, security], ...]) lists the Wi-Fi scan's networks;
# HANMQ_HOME ("ssid\npassword") is the network that exists (default: any).

import gc
import os
import socket
import time
from binascii import unhexlify

#: Exit status of a reset when no host is there to do it (tools/simulate.py restarts).
RESET_EXIT = 75
#: Board ms a station takes to join once asked (DHCP included).
JOIN_MS = 1500

#: This module stands in for firmware/hw.py in the heap it measures, so it is kept as
#: small as that one: few functions, small buffers.


def _connect(where):
    host, port = where.rsplit(":", 1)
    s = socket.socket()
    s.connect(socket.getaddrinfo(host, int(port))[0][-1])
    s.setblocking(False)
    return s


_ctl = None
_ctl_buf = bytearray(16)
_speed = None  # the digits of an "S<speed>;" being received
_wifi = True  # the station's network is there
_back = None  # board ticks it last came back (None: it never went)
_button = False
_dns_dead = False


def _say(line):
    if _ctl is not None:
        _ctl.setblocking(True)
        _ctl.write(line)
        _ctl.setblocking(False)


def _poll():
    """Apply what the host has sent."""
    global _wifi, _back, _button, _dns_dead, _speed
    if _ctl is None:
        return
    while True:
        try:
            n = _ctl.readinto(_ctl_buf)
        except OSError:
            return
        if not n:
            return
        for i in range(n):
            c = _ctl_buf[i]
            if _speed is not None:
                if c == 59:  # ;
                    time.set_speed(_speed)
                    _speed = None
                else:
                    _speed += chr(c)
            elif c == 83:  # S
                _speed = ""
            elif c == 87 or c == 119:  # W w
                if c == 87 and not _wifi:
                    _back = time.ticks_ms()
                _wifi = c == 87
            elif c == 66 or c == 98:  # B b
                _button = c == 66
            elif c == 68 or c == 100:  # D d
                _dns_dead = c == 68


def _hang():
    # The host kills this process now (a reset takes no time on a board).
    while True:
        time._t.sleep_ms(1000)


#: What this seam holds in the heap beyond a board's firmware/hw.py: the simulator gives
#: the firmware that much more heap (simulate.SEAM_EXTRA) and says so here, so that the
#: firmware's fixed budgets (status.budget()) mean on this board what they mean on one.
SEAM_EXTRA = int(os.getenv("HANMQ_SEAM_EXTRA") or "0")

if os.getenv("HANMQ_CTL"):
    _ctl = _connect(os.getenv("HANMQ_CTL"))
    _say(b"boot\n")
    _poll()


class _UART:
    """machine.UART(timeout=0) over the host's line model. The socket's kernel buffer
    and the host's count play the ESP32 driver's receive buffer (outside the
    MicroPython heap there too); a small buffer here holds what any() has counted."""

    def __init__(self, where):
        self.sock = _connect(where)
        self.mv = memoryview(bytearray(256))
        self.n = 0  # bytes held: mv[0:n]
        self.closed = False
        self.rec = bytearray(3)

    def _send(self, kind, value):
        r = self.rec
        r[0] = kind
        r[1] = value & 0xFF
        r[2] = value >> 8
        s = self.sock
        s.setblocking(True)
        try:
            s.write(r)
        except OSError:
            pass
        s.setblocking(False)

    def any(self):
        if not self.closed and self.n < len(self.mv):
            try:
                k = self.sock.readinto(self.mv[self.n :])
            except OSError:  # EAGAIN: nothing new
                k = None
            if k == 0:
                self.closed = True
            elif k:
                self.n += k
        return self.n

    def flush(self):
        k = self.n
        self.n = 0
        while not self.closed:
            try:
                got = self.sock.readinto(self.mv)
            except OSError:
                break
            if not got:
                self.closed = got == 0
                break
            k += got
        if k and not self.closed:
            self._send(114, k)  # gone from the driver's buffer

    def write(self, buf):
        if self.tx:
            for b in buf:
                self._send(119, b)  # "w": out of the TX pin
        return len(buf)

    def readinto(self, buf):
        k = min(len(buf), self.n)
        if not k:
            return None
        buf[:k] = self.mv[:k]
        self.n -= k
        self.mv[: self.n] = self.mv[k : k + self.n]
        if not self.closed:
            self._send(114, k)  # "r": taken out of the driver's buffer
        return k


_uart = None


def uart(parity, loopback=False):
    """The UART at 2400 baud with this parity (0 even, None none); one line to the
    host serves every re-open, which reports the new setting and, as MicroPython 1.27
    and later do, empties the receive buffer. loopback: with the TX pin."""
    global _uart
    if _uart is None:
        _uart = _UART(os.getenv("HANMQ_UART") or "127.0.0.1:4059")
    else:
        _uart.flush()
    _uart.tx = loopback
    _uart._send(112, 0 if parity == 0 else 1)  # "p"
    return _uart


def uart_closed(u):
    return u.closed and not u.n


class _WLAN:
    """The station, as the ESP32 port runs it (network_wlan.c): connect() asks to be
    joined, and from then on the port rejoins by itself after every drop, for ever,
    until disconnect() takes the request back; connect() while an attempt is under
    way fails ("Wifi Internal Error"). It joins JOIN_MS after it was asked or the
    network came back, when the network exists (HANMQ_HOME: ssid, password) and the
    host says it is in reach. The scan finds the networks in HANMQ_SCAN."""

    def __init__(self):
        self._since = None  # board ticks of connect(), while the port is asked to join
        self._ok = True
        self._joined = False
        self.connects = self.disconnects = 0

    def isconnected(self):
        _poll()
        if not (_wifi and self._ok and self._since is not None):
            self._joined = False
            return False
        if not self._joined:  # (once joined, no tick difference can undo it)
            now = time.ticks_ms()
            self._joined = time.ticks_diff(now, self._since) >= JOIN_MS and (
                _back is None or time.ticks_diff(now, _back) >= JOIN_MS)
        return self._joined

    def connect(self, ssid, password):
        if self._since is not None and not self.isconnected():
            raise OSError("Wifi Internal Error")  # an attempt is under way
        home = os.getenv("HANMQ_HOME")
        self._ok = home is None or home == ssid + "\n" + password
        self._since = time.ticks_ms()
        self._joined = False
        self.connects += 1
        _say(b"wifi connect\n")

    def disconnect(self):
        self._since = None
        self._joined = False
        self.disconnects += 1
        _say(b"wifi disconnect\n")

    def active(self, on=None):
        return True

    def status(self, what=None):
        return -61  # RSSI: the firmware asks only for that

    def scan(self):
        # (ssid, bssid, channel, RSSI, security, hidden), as network.WLAN.scan()
        import json

        nets = json.loads(os.getenv("HANMQ_SCAN") or "[]")
        return [(n[0].encode(), bytes(6), 1 + i % 11, n[1], n[2], not n[0])
                for i, n in enumerate(nets)]


_sta = None


def station():
    global _sta
    if _sta is None:
        _sta = _WLAN()
    return _sta


def hostname(name):
    print("[sim] hostname %s" % name)
    _say(b"host %s\n" % name.encode())


_ap = None


def ap_open(essid):
    global _ap
    _ap = essid
    print("[sim] access point %s up (simulated: the portal is on 127.0.0.1)" % essid)
    _say(b"ap 1\n")
    return "127.0.0.1"


def ap_close():
    print("[sim] access point %s down" % _ap)
    _say(b"ap 0\n")


def portal_ports():
    return int(os.getenv("HANMQ_HTTP_PORT") or 8080), int(os.getenv("HANMQ_DNS_PORT") or 5353)


def status_addr():
    port = os.getenv("HANMQ_HTTP_PORT")
    return ("127.0.0.1", int(port)) if port else None


def led(on):
    pass


def button():
    """True while the button is pressed."""
    _poll()
    return _button


def dns_dead():
    return _dns_dead  # (called from the lookup's thread too: the loop's polls update it)


def unique_id():
    return unhexlify(os.getenv("HANMQ_NODE") or "a1b2c3")


def _bark():
    print("[sim] watchdog: not fed for %d ms: reset" % time.wdt_ms)
    if _ctl is None:
        raise SystemExit(RESET_EXIT)
    _say(b"reset watchdog\n")
    _hang()


class _WDT:
    """machine.WDT: cannot be stopped; checked by the board clock (time.py)."""

    def __init__(self, timeout_ms):
        time.wdt_ms = timeout_ms
        time.fed = self._told = time.ticks_ms()
        time.bark = _bark
        _say(b"wdt %d\n" % timeout_ms)

    def feed(self):
        now = time.fed = time.ticks_ms()
        if time.ticks_diff(now, self._told) >= time.wdt_ms >> 3:
            self._told = now
            _say(b"feed\n")  # for the host's own check of a board that hangs


def watchdog(timeout_ms):
    return _WDT(timeout_ms)


def keep_fed(wdt):
    pass  # the REPL: nothing to keep fed on the host


def reset():
    print("[sim] reset")
    if _ctl is None:
        raise SystemExit(RESET_EXIT)
    _say(b"reset\n")
    _hang()


def free_heap():
    return gc.mem_free()


def heap_info():
    return []  # no ESP-IDF heap on the host
