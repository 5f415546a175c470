# hdlc.py: streaming HDLC framer for HAN push frames (IEC 62056-46, frame format type 3).
# MIT license; Copyright (c) 2026 hanmq
#
# 7E | A0+len (11 bit) | dst addr | src addr | ctrl | HCS | info | FCS | 7E
#
# Meters do not byte-stuff: 0x7E and 0x7D occur unescaped inside data, so a frame is
# delimited by its length field, never by scanning for 0x7E (protocol.md 2.3). On any
# check failure the hunt restarts at the byte after the rejected opening flag, because
# a 0x7E inside data may have fooled it. All bytes live in one buffer allocated once;
# input never makes it grow.

from micropython import const


from han.crc import check

_FLAG = const(0x7E)
_SEGMENT = const(0x08)  # S bit in the first format byte
_MAX_ADDR = const(4)  # an HDLC address has 1 to 4 bytes

# Error codes passed to on_error(code, offset)
ERR_HCS = const(1)
ERR_FCS = const(2)
ERR_FLAG = const(3)
ERR_TOO_LONG = const(4)
ERR_SEGMENT = const(5)

ERROR_TEXT = (
    "",
    "bad HCS (header checksum)",
    "bad FCS (frame checksum)",
    "no closing flag at the announced length",
    "frame longer than the buffer",
    "segmented message lost or too long",
)

#: Longest frame accepted, flags included. The 11-bit length field allows 2049, but
#: Norwegian lists are at most 396 bytes and the longest frame seen anywhere is 581
#: (Swedish Aidon); a longer frame is counted as bad length. Pass size= for more.
MAX_FRAME = const(1024)


class Framer:
    """Feed it bytes in any chunks; it calls on_frame(info) for every frame whose
    HCS and FCS check. `info` is a memoryview of the information field (reassembled
    when a meter segments), valid only during the call; `self.frame` then views the
    whole last frame, 7E to 7E."""

    def __init__(self, on_frame, on_error=None, size=MAX_FRAME, buf=None):
        # A board allocates `buf` first thing at boot, before imports fragment the
        # heap (MicroPython docs, "constrained.rst"); otherwise it is made here.
        self._buf = bytearray(size) if buf is None else buf
        if len(self._buf) < 32:  # must hold at least a whole header (14 bytes)
            raise ValueError("frame buffer too small")
        self._mv = memoryview(self._buf)
        self._n = 0  # bytes held; when > 0, _buf[0] is a candidate opening flag
        self._on_frame = on_frame
        self._on_error = on_error
        self._seg = None  # reassembly buffer, allocated once if a meter ever segments
        self._seg_n = -1  # bytes reassembled; -1 when no segmented message is open
        self.frame = None
        self.offset = 0  # stream offset of _buf[0]
        self.good = 0
        self.bad_crc = 0
        self.bad_length = 0

    def pending(self):
        """Bytes held that have not yet formed a frame (a truncated frame at the end)."""
        return self._n if self._n > 1 else 0  # a lone closing flag is no frame

    def feed(self, data):
        src = memoryview(data)
        total = len(src)
        i = 0
        size = len(self._buf)
        while i < total:
            if self._n == 0:
                # Hunt in the input itself, so garbage is never copied.
                start = i
                while i < total and src[i] != _FLAG:
                    i += 1
                self.offset += i - start
                if i == total:
                    return
            k = total - i
            room = size - self._n
            if k > room:
                k = room
            self._mv[self._n : self._n + k] = src[i : i + k]
            self._n += k
            i += k
            self._scan()

    def read_from(self, stream):
        """Read what a non-blocking stream (a UART) holds straight into the frame
        buffer, then look for frames: no copy, one small allocation per read.
        Returns the bytes read."""
        n = self._n
        k = stream.readinto(self._mv[n:])
        if not k:
            return 0
        self._n = n + k
        if n == 0 and self._buf[0] != _FLAG:
            self._drop(0)  # hunt for an opening flag in what was read
        self._scan()
        return k

    def _drop(self, k):
        # Discard k bytes from the front, then move to the next candidate flag.
        n = self._n
        j = self._buf.find(b"\x7e", k, n)
        if j < 0:
            j = n
        m = n - j
        if m:
            self._mv[0:m] = self._mv[j:n]
        self._n = m
        self.offset += j

    def _error(self, code):
        if code == ERR_HCS or code == ERR_FCS:
            self.bad_crc += 1
        else:
            self.bad_length += 1
        if self._on_error:
            self._on_error(code, self.offset)

    def _scan(self):
        b = self._buf
        while self._n >= 3:
            n = self._n
            f = b[1]
            if f & 0xF0 != 0xA0:  # not frame format type 3: not an opening flag
                self._drop(1)
                continue
            length = ((f & 0x07) << 8) | b[2]  # bytes between the flags
            # Addresses: each byte's LSB set marks the last byte (IEC 62056-46 6.4.2).
            p = 3
            for _ in range(2):
                q = p + _MAX_ADDR
                while p < n and p < q and not b[p] & 1:
                    p += 1
                if p >= n:
                    return  # need more bytes
                if p >= q:
                    p = -1
                    break
                p += 1
            if p < 0:
                self._drop(1)  # address too long: not a frame
                continue
            ctrl = p  # control byte; its value is not checked (Kaifa 0x10, others 0x13)
            if length < ctrl + 2:  # shorter than its own header: not a frame
                self._drop(1)
                continue
            if length == ctrl + 2:  # frame without information field: not a push
                if n < length + 2:
                    return
                self._drop(1)
                continue
            if n < ctrl + 3:
                return
            if not check(b, 1, ctrl + 1):
                self._error(ERR_HCS)
                self._drop(1)
                continue
            if length + 2 > len(b):
                self._error(ERR_TOO_LONG)
                self._drop(1)
                continue
            if n < length + 2:
                return
            if b[length + 1] != _FLAG:
                self._error(ERR_FLAG)
                self._drop(1)
                continue
            if not check(b, 1, length - 1):
                self._error(ERR_FCS)
                self._drop(1)
                continue
            self.good += 1
            self._deliver(f & _SEGMENT, ctrl + 3, length - 1, length + 2)
            # The closing flag may also open the next frame: keep it.
            self._drop(length + 1)

    def _deliver(self, segmented, start, end, total):
        mv = self._mv
        self.frame = mv[0:total]
        if not segmented and self._seg_n < 0:
            self._on_frame(mv[start:end])
            return
        # Segmented message (S bit, IEC 62056-46 6.4.3): concatenate information
        # fields until a frame with S = 0. Only the first segment carries the LLC.
        if self._seg is None:
            self._seg = bytearray(len(self._buf))
        if self._seg_n < 0:
            self._seg_n = 0
        k = end - start
        if self._seg_n + k > len(self._seg):
            self._seg_n = -1
            self._error(ERR_SEGMENT)
            return
        self._seg[self._seg_n : self._seg_n + k] = mv[start:end]
        self._seg_n += k
        if not segmented:
            k = self._seg_n
            self._seg_n = -1
            self._on_frame(memoryview(self._seg)[0:k])
