# status.py: the status page in normal operation: what stays in RAM for it.
# MIT license; Copyright (c) 2026 hanmq
#
# Between visits the page costs this module, a listening socket and the settings
# text. When a client connects, the HTTP server (portal/http.py) and the page's
# requests (portal/admin.py) are loaded if the heap has room for them, and dropped
# again a little after the last connection closes. Serving is one bounded slice per
# service() call from the main loop (DESIGN.md 8).

import gc
import select
import socket
import sys
import time

import hw

#: The MicroPython heap the firmware keeps itself to: an ESP32 without PSRAM gives it
#: about 100 KB. A board's gc.mem_free() also counts the system heap the MicroPython
#: heap can grow into, which Wi-Fi and TLS need (DESIGN.md 8), so no decision rests on
#: it: a visit is served when the live heap (gc.mem_alloc(), after a collection) leaves
#: VISIT bytes of this budget. Both measured on the ESP32-like VM (bench/README.md);
#: the 64-bit unix port's objects take about 1.4 times that room.
_WIDE = sys.maxsize > 0x7FFFFFFF
BUDGET = 96 * 1024 * 7 // 5 if _WIDE else 96 * 1024
#: What a visit takes at its peak: the HTTP server, the page's module, two buffers, the
#: page being written, with the firmware's own peaks (a discovery burst, an hourly
#: reading) left clear.
VISIT = 20 * 1024 * 7 // 5 if _WIDE else 20 * 1024
#: Each of the 2 connections served at once has a buffer this long: the request's
#: head must fit (no body is read).
BUF = 1024
#: The server stays loaded this long after its last connection.
IDLE_MS = 3000
#: After the answer that asks for a restart, it gets this long to go out,
RESTART_MS = 2000
#: and once its connection is closed, this long to leave the network stack.
LINGER_MS = 1000

_BUSY = b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 30\r\nContent-Length: 0\r\n\r\n"


def budget():
    """BUDGET, or the whole heap where that is smaller (a host run with -X heapsize)."""
    return min(BUDGET, gc.mem_alloc() + gc.mem_free())


def open_page(dongle, log, path, version):
    """The status page, or None (and this module dropped) when it cannot be set up."""
    gc.collect()
    try:
        return StatusPage(dongle, log, path, version)
    except (MemoryError, OSError) as e:
        log("W", "status page off: %s", e)
    del sys.modules["status"]
    return None


class StatusPage:
    def __init__(self, dongle, log, path, version):
        self.dongle = dongle
        self.log = log
        self.path = path
        self.version = version
        self.last_s = None  # uptime seconds of the latest reading
        self.unknown = 0
        self.readings = 0
        self.restart = None  # ticks: restart once the answer is out
        self.server = None
        self._idle = 0
        # The settings as shown: secrets masked, one JSON object in key order.
        import json

        import config

        m = config.masked(dongle.cfg)
        self.settings = ("{%s}" % ", ".join(
            '"%s": %s' % (k, json.dumps(m[k])) for k in sorted(m))).encode()
        del sys.modules["config"]  # as app.load_config() does: 6 KB back
        addr, port = hw.status_addr()
        s = self.sock = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(socket.getaddrinfo(addr, port)[0][-1])
        s.listen(2)
        s.setblocking(False)
        self._poll = select.poll()
        self._poll.register(s, select.POLLIN)
        log("I", "status page on port %d", port)

    def on_reading(self, rd):
        self.readings += 1
        self.last_s = self.dongle.uptime.s
        self.unknown = self.dongle.decoder.unknown  # the page shows this reading while
        # no frame has failed since (a failed frame leaves the reading slots cleared)

    def service(self, now):
        srv = self.server
        if srv is None:
            for _ in self._poll.ipoll(0):  # a client is waiting
                self._load(now)
                break
            return
        srv.service(now)
        if srv.busy():
            self._idle = now
            if self.restart is None or time.ticks_diff(now, self.restart) < RESTART_MS:
                return
        if self.restart is not None:
            # The answer has gone out (or had its time), and what the network stack
            # still held has had LINGER_MS to reach the browser: a reset loses it.
            closed = srv.closed_ms
            if closed is not None and time.ticks_diff(now, closed) < LINGER_MS:
                return
            self.log("I", "restarting")
            hw.reset()
        if time.ticks_diff(now, self._idle) > IDLE_MS:
            self._unload()

    def _load(self, now):
        gc.collect()
        live = gc.mem_alloc()
        if live + VISIT <= budget():
            try:
                bufs = [bytearray(BUF), bytearray(BUF)]  # before the imports
                from portal import admin
                from portal.http import Server

                self._handle = lambda req: admin.handle(self, req)
                self.server = Server(self.sock, self._handle, bufs, self.log)
                self._idle = now
                return
            except MemoryError:  # free, but in pieces too small
                self._unload()
        try:
            s = self.sock.accept()[0]
            s.setblocking(False)
            s.write(_BUSY)
            s.close()
        except OSError:
            pass
        self.log("W", "status page: heap low (%d live), visitor turned away", live)

    def _unload(self):
        self.server = self._handle = None
        from portal import unload

        unload("portal.admin", "portal.http", "portal")
