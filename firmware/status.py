# status.py: the status page in normal operation, loaded for a visit.
# MIT license; Copyright (c) 2026 hanmq
#
# Between visits the page costs only a listening socket (dongle.py holds it, and the
# counters the page shows). When a client connects, this module, the HTTP server
# (portal/http.py) and the page's requests (portal/admin.py) are loaded if the heap
# has room for them, and dropped again a little after the last connection closes.
# Serving is one bounded slice per service() call from the main loop (DESIGN.md 8).

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
    """BUDGET, or the whole heap where that is smaller (a host run with -X heapsize).
    On the simulated board its seam holds hw.SEAM_EXTRA bytes a board's hw.py does not
    (and is given that much more heap): the budget moves with it (0 on a board)."""
    return min(BUDGET + hw.SEAM_EXTRA, gc.mem_alloc() + gc.mem_free())


def listen(log):
    """The page's listening socket and a poll for it, or (None, None) when the board
    serves no page (hw.status_addr() None) or the port cannot be had."""
    where = hw.status_addr()
    if not where:
        return None, None
    try:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(socket.getaddrinfo(where[0], where[1])[0][-1])
        s.listen(2)
        s.setblocking(False)
    except OSError as e:
        log("W", "status page off: port %d: %s", where[1], e)
        return None, None
    p = select.poll()
    p.register(s, select.POLLIN)
    log("I", "status page on port %d", where[1])
    return s, p


def turn_away(sock):
    try:
        s = sock.accept()[0]
        s.setblocking(False)
        s.write(_BUSY)
        s.close()
    except OSError:
        pass


class Visit:
    """The page being served, from the first connection until IDLE_MS after the last
    (service() then returns False, and the dongle drops this module)."""

    def __init__(self, dongle, sock, log, path, version, now):
        self.dongle = dongle
        self.log = log
        self.path = path
        self.version = version
        self.restart = None  # ticks: restart once the answer is out
        self._idle = now
        bufs = [bytearray(BUF), bytearray(BUF)]  # before the imports
        # The settings as shown: secrets masked, one JSON object in key order.
        import json

        import config

        m = config.masked(dongle.cfg)
        self.settings = ("{%s}" % ", ".join(
            '"%s": %s' % (k, json.dumps(m[k])) for k in sorted(m))).encode()
        del sys.modules["config"]  # as app.load_config() does: 6 KB back
        from portal import admin
        from portal.http import Server

        self.server = Server(sock, lambda req: admin.handle(self, req), bufs, log)

    def service(self, now):
        """One slice; False once the visit is over."""
        srv = self.server
        srv.service(now)
        if srv.busy():
            self._idle = now
            if self.restart is None or time.ticks_diff(now, self.restart) < RESTART_MS:
                return True
        if self.restart is not None:
            # The answer has gone out (or had its time), and what the network stack
            # still held has had LINGER_MS to reach the browser: a reset loses it.
            closed = srv.closed_ms
            if closed is not None and time.ticks_diff(now, closed) < LINGER_MS:
                return True
            self.log("I", "restarting")
            hw.reset()
        return time.ticks_diff(now, self._idle) <= IDLE_MS


def open_visit(dongle, sock, log, path, version, now):
    """A Visit for the client waiting on sock, or None (the client turned away) when the
    heap has no room for one."""
    gc.collect()
    live = gc.mem_alloc()
    if live + VISIT <= budget():
        try:
            return Visit(dongle, sock, log, path, version, now)
        except MemoryError:  # free, but in pieces too small
            unload()
    turn_away(sock)
    log("W", "status page: heap low (%d live), visitor turned away", live)
    return None


def unload():
    """Drop what a visit loaded (this module too)."""
    from portal import unload as drop

    drop("portal.admin", "portal.http", "portal", "status")
