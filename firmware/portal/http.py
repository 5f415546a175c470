# http.py: a small bounded non-blocking HTTP/1.0 server for the setup and status pages.
# MIT license; Copyright (c) 2026 hanmq
#
# service() does one bounded slice of work and returns, so the main loop can call it
# between UART reads: no client, however slow or hostile, holds the loop up (DESIGN.md
# 8). Each connection has a slot with one fixed buffer, allocated by the caller early
# (before imports fragment the heap): the request's head must fit in it, then its
# body. Only the headers the pages need are kept. A form body (application/x-www-form-
# urlencoded) is cut at each & and each field handed to field(req, mv), mv viewing
# b"name=value" in the buffer (portal/form.py decodes it there); without field() bodies are refused. A handler returns
# the response as an iterable of bytes chunks, copied out through the same buffer; the
# response ends with the close (RFC 7230 3.3.3 item 7), so no page is ever built whole
# in RAM. Caps: request line 512 bytes (414), head = the buffer (431), body 1 KB (413),
# 5 s per connection (408), as many connections as buffers (then an idle one gives way,
# or the newcomer gets 503).

import select
import socket
import time
from binascii import a2b_base64

from micropython import const

#: Longest request line, else 414 (RFC 7230 3.1.1). The whole head is capped by the
#: buffer, else 431 (RFC 6585 5).
LINE_MAX = const(512)
#: Largest body (Content-Length) accepted, else 413 (RFC 7231 6.5.11).
BODY_MAX = const(1024)
#: Time for request and response together; an incomplete request then gets 408
#: (RFC 7231 6.5.7) and the connection is closed.
TIMEOUT_MS = const(5000)

_BAD = b"400 Bad Request"
_FULL = b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n"


def head(status=b"200 OK"):
    """Status line and headers of an HTML response that ends with the close."""
    return (
        b"HTTP/1.0 %s\r\nContent-Type: text/html; charset=utf-8\r\n"
        b"Cache-Control: no-store\r\n\r\n" % status
    )


def error(status, extra=b""):
    """A whole plain-text response, e.g. error(b"404 Not Found"), with its length."""
    return b"HTTP/1.0 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s\n" % (
        status, len(status) + 1, extra, status)


DENIED = error(b"401 Unauthorized", b'WWW-Authenticate: Basic realm="hanmq", charset="UTF-8"\r\n')

_ESC = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#39;"))


def esc(v):
    """Text (or bytes, or a number) for HTML content or a quoted attribute: UTF-8."""
    s = v if isinstance(v, str) else str(v, "utf-8") if isinstance(v, bytes) else str(v)
    for a, b in _ESC:
        if a in s:
            s = s.replace(a, b)
    return s.encode()


def same(a, b):
    """a == b (bytes), in a time that does not tell where they differ."""
    d = len(a) != len(b)
    for i in range(min(len(a), len(b))):
        d |= a[i] ^ b[i]
    return not d


def authorized(auth, password):
    """HTTP Basic (RFC 7617): any user name with this password."""
    try:
        pw = a2b_base64(auth[6:]) if auth.startswith(b"Basic ") else b""
    except ValueError:
        pw = b""
    i = pw.find(b":")
    return i >= 0 and same(pw[i + 1 :], password.encode())


def listen(addr, port, backlog=2):
    """A non-blocking listening TCP socket."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(socket.getaddrinfo(addr, port)[0][-1])
    s.listen(backlog)
    s.setblocking(False)
    return s


def _find(buf, byte, start, end):
    """Index of byte in buf[start:end], or -1 (bytearray has no find() on every port)."""
    while start < end:
        if buf[start] == byte:
            return start
        start += 1
    return -1


class Request:
    """A connection slot and the request on it (reused). Handlers read method, path,
    query, host (bytes), auth (the Authorization value, b"" if none) and form (a dict
    for field())."""

    def __init__(self, buf):
        self.buf = buf
        self.mv = memoryview(buf)
        self.sock = self.resp = None


class Server:
    def __init__(self, sock, handler, bufs, log=None, field=None):
        """sock: a listening socket (listen()); handler(req) -> iterable of bytes;
        bufs: one bytearray per connection served at once, as long as a request's head
        (and body) may be; field(req, mv) -> None, or an error status to answer (mv: one
        name=value of a form body, viewed in the buffer, which field() may change)."""
        self.sock = sock
        self.handler = handler
        self.field = field
        self.log = log
        self.slots = [Request(b) for b in bufs]
        self.closed_ms = None  # ticks a connection that had an answer was last closed
        self._ready = [None] * (len(bufs) + 1)  # one service() call's sockets
        self._poll = select.poll()
        self._poll.register(sock, select.POLLIN)

    def close(self):
        for r in self.slots:
            self._close(r)
        self.sock.close()

    def busy(self):
        for r in self.slots:
            if r.sock:
                return True
        return False

    def service(self, now):
        """One slice: each socket that is ready gets one step (at most one buffer read
        or written), then the deadlines. True if there was work."""
        ready = self._ready
        n = 0
        for ev in self._poll.ipoll(0):  # noted first: the steps change the poll set
            ready[n] = ev[0]
            n += 1
            if n == len(ready):
                break
        for i in range(n):
            s = ready[i]
            ready[i] = None
            if s is self.sock:
                self._accept(now)
            for r in self.slots:
                if r.sock is s:
                    try:
                        if r.resp:
                            self._send(r)
                        else:
                            self._read(r)
                    except (OSError, MemoryError):  # reset by the peer; no heap
                        self._close(r)
        for r in self.slots:
            if r.sock and time.ticks_diff(now, r.until) >= 0:
                if not r.resp:
                    try:
                        r.sock.write(error(b"408 Request Timeout"))  # never waits
                    except OSError:
                        pass
                self._close(r)
        return n > 0

    def _accept(self, now):
        try:
            s = self.sock.accept()[0]
        except OSError:
            return
        old = None
        for r in self.slots:
            if not r.sock:
                break
            if not r.n and r.left < 0 and not r.resp:  # connected, sent nothing yet
                if old is None or time.ticks_diff(r.until, old.until) < 0:
                    old = r
        else:
            if old is None:
                # Every slot has a request under way: this client is turned away
                # rather than one that is being served.
                try:
                    s.setblocking(False)
                    s.write(_FULL)
                except OSError:
                    pass
                s.close()
                return
            # The oldest idle connection (a browser's spare one, or a client that
            # never speaks) gives way, like ESP-IDF's LRU purge.
            r = old
            self._close(r)
        s.setblocking(False)
        r.sock = s
        r.until = time.ticks_add(now, TIMEOUT_MS)
        r.n = 0
        r.left = -1  # body bytes still to come; -1: the head is still coming
        r.host = r.auth = b""
        r.form = {}
        self._poll.register(s, select.POLLIN)

    def _close(self, r):
        if r.sock and r.resp is not None:
            self.closed_ms = time.ticks_ms()
        if r.sock:
            try:
                r.sock.readinto(r.buf)  # what already came: closing on unread input resets
            except OSError:
                pass
            try:
                self._poll.unregister(r.sock)
            except (OSError, ValueError, KeyError):
                pass
            r.sock.close()
        # What the request left goes too: small objects that outlive their request
        # break up the free heap a page needs in larger blocks.
        r.sock = r.resp = r.chunk = r.form = r.method = r.path = r.query = r.host = None
        r.auth = None

    def _read(self, r):
        start = r.n
        k = r.sock.readinto(r.mv[start:])
        if k is None:
            return
        if not k:  # EOF before the request was complete
            return self._close(r)
        r.n += k
        if r.left < 0:
            fail = self._head(r, start)
            if fail:
                return self._respond(r, (error(fail),))
        if r.left < 0 or r.n < r.left:
            return
        # The body is complete: name=value fields separated by & (WHATWG urlencoded).
        a = 0
        while a < r.left:
            b = _find(r.buf, 38, a, r.left)
            if b < 0:
                b = r.left  # the last field
            fail = b > a and self.field(r, r.mv[a:b])
            if fail:
                return self._respond(r, (error(fail),))
            a = b + 1
        try:
            resp = self.handler(r)
        except Exception as e:  # a bug in a page must not take the dongle down
            self._log(r, e)
            resp = (error(b"500 Internal Server Error"),)
        self._respond(r, resp)

    def _head(self, r, start):
        """Look for the head's end in what just came (a line that is empty; bare LF
        ends lines too, RFC 7230 3.5) and parse the head once it is all here. Returns
        an error status, or None (r.left >= 0 once the head is parsed). Lines are
        copied out one at a time: no copy of the whole head."""
        buf = r.buf
        end = -1
        i = start - 1
        while end < 0:
            i = _find(buf, 10, i + 1, r.n)
            if i < 0:
                break
            if i == 0 or buf[i - 1] == 10 or buf[i - 1] == 13 and i > 1 and buf[i - 2] == 10:
                end = i + 1  # just after the empty line
        first = _find(buf, 10, 0, min(r.n, LINE_MAX + 1))
        if first < 0 and r.n > LINE_MAX:
            return b"414 URI Too Long"
        if end < 0:
            return b"431 Request Header Fields Too Large" if r.n == len(buf) else None
        left = 0
        a = 0
        while a < end:
            b = _find(buf, 10, a, end)
            line = bytes(r.mv[a : b - 1 if b > a and buf[b - 1] == 13 else b])
            if not a:
                # method SP request-target SP HTTP-version (3.1.1)
                p = line.split(b" ")
                if len(p) != 3 or not p[2].startswith(b"HTTP/1."):
                    return _BAD
                r.method, t = p[0], p[1]
                if t.startswith(b"http://"):
                    # absolute-form, as sent to a proxy (5.3.2): its authority is the
                    # host (5.4)
                    r.host, _, t = t[7:].partition(b"/")
                    t = b"/" + t
                if not t.startswith(b"/"):
                    return _BAD
                r.path, _, r.query = t.partition(b"?")
            elif line:
                name, colon, v = line.partition(b":")
                # a colon, no whitespace before it, no obsolete line folding (3.2.4)
                if not colon or not name or name[-1] in b" \t" or name[0] in b" \t":
                    return _BAD
                name = name.lower()
                v = v.strip()
                if name == b"host":
                    r.host = r.host or v
                elif name == b"authorization":
                    r.auth = v
                elif name == b"transfer-encoding":  # chunked bodies are not read (3.3.1)
                    return b"501 Not Implemented"
                elif name == b"content-length":
                    if not v.isdigit():
                        return _BAD
                    left = int(v)
                    if left > (BODY_MAX if self.field else 0) or left > len(buf):
                        return b"413 Payload Too Large"
            a = b + 1
        # Keep what came after the head: the start of the body.
        r.n -= end
        buf[: r.n] = r.mv[end : end + r.n]
        r.left = left

    def _respond(self, r, resp):
        r.resp = iter(resp)
        r.chunk = None
        r.n = r.off = 0
        self._poll.modify(r.sock, select.POLLOUT)

    def _log(self, r, e):
        if self.log:
            self.log("E", "http: %s %s: %r", r.method, r.path, e)

    def _send(self, r):
        buf = r.buf
        if r.off == r.n:  # all of buf sent: copy the next chunks of the response into it
            r.n = r.off = 0
            while r.n < len(buf):
                if r.chunk is None:
                    try:
                        r.chunk = next(r.resp)
                    except StopIteration:
                        break
                    except Exception as e:  # the client gets a cut page; we go on
                        self._log(r, e)
                        break
                    r.pos = 0
                c = r.chunk
                k = min(len(c) - r.pos, len(buf) - r.n)
                buf[r.n : r.n + k] = memoryview(c)[r.pos : r.pos + k]
                r.n += k
                r.pos += k
                if r.pos == len(c):
                    r.chunk = None
            if not r.n:
                return self._close(r)
        k = r.sock.write(r.mv[r.off : r.n])
        if k:
            r.off += k
