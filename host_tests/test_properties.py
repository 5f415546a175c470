# test_properties.py: property-based tests (hypothesis) of the streaming HAN decoder.
# MIT license; Copyright (c) 2026 hanmq
#
# The valid population is every Norwegian HDLC frame of the recorded corpus whose
# CRCs check. Every frame that comes out of the decoder is re-verified, inside the
# callback, with an independent bit-by-bit CRC-16/X.25, and the frames delivered for a
# whole stream are compared with `oracle_frames`, a slow reference framer written
# straight from protocol.md 2.3 (hunt for 7E, check the header, restart the hunt after
# a rejected opening flag).
#
# Readings are compared with the same frames fed cleanly, back to back, to a fresh
# Decoder: not each frame alone, because the decoder is stateful by design (an Aidon
# or Landis+Gyr list 1 names no maker and inherits it from an earlier list 2/3).
#
# Run: .venv/bin/python -m pytest host_tests/test_properties.py -q

import json
import os
import random
import signal
import sys
import threading

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# host_tests/conftest.py does this too; repeated so the file also runs on its own.
for _path in (os.path.join(_ROOT, "tools", "shims"), os.path.join(_ROOT, "firmware")):
    if _path not in sys.path:  # shims: micropython.const on CPython
        sys.path.insert(0, _path)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from frame_builder import crc_x25  # noqa: E402
from han.crc import crc16  # noqa: E402
from han.decoder import Decoder  # noqa: E402
from han.hdlc import ERROR_TEXT, MAX_FRAME  # noqa: E402

# ---------------------------------------------------------------------------------
# Corpus


def _corpus_path():
    local = os.path.join(_ROOT, "host_tests", "frames", "corpus.jsonl")
    if os.path.exists(local):
        return local
    return "/work/shared/frames/corpus.jsonl"


def _load_frames():
    out = []
    with open(_corpus_path()) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            if r.get("country") == "NO" and r.get("format") == "hdlc" and r.get("crc_ok"):
                out.append((r["id"], bytes.fromhex(r["hex"])))
    return out


CORPUS = _load_frames()
FRAMES = [b for _, b in CORPUS]
SIZE = MAX_FRAME  # the framer's buffer size

# ---------------------------------------------------------------------------------
# Independent CRC and frame check (not han.crc's table: a plain bit loop)


assert crc_x25(b"123456789") == 0x906E
assert crc16(b"123456789", 0, 9) == 0x906E


def _crc_ok(data, start, end):
    """data[end:end+2] holds the CRC of data[start:end], low byte first."""
    c = crc_x25(data[start:end])
    assert c == crc16(data, start, end), "han.crc.crc16 disagrees with the bitwise CRC"
    return data[end] == c & 0xFF and data[end + 1] == c >> 8


def header_end(fr):
    """Index of the control byte of the frame starting at fr[0], or None if the
    addresses are malformed (more than 4 bytes) or run past the data."""
    p = 3
    for _ in range(2):
        q = p + 4
        while p < len(fr) and p < q and not fr[p] & 1:
            p += 1
        if p >= len(fr) or p >= q:
            return None
        p += 1
    return p


def verify_frame(fr):
    """Assert fr (7E .. 7E) is a well-formed frame whose HCS and FCS both verify."""
    fr = bytes(fr)
    assert len(fr) >= 12 and fr[0] == 0x7E and fr[-1] == 0x7E, fr.hex()
    assert fr[1] & 0xF0 == 0xA0, fr.hex()
    length = ((fr[1] & 7) << 8) | fr[2]
    assert length == len(fr) - 2, fr.hex()
    ctrl = header_end(fr)
    assert ctrl is not None and length > ctrl + 2, fr.hex()
    assert _crc_ok(fr, 1, ctrl + 1), "HCS does not verify: " + fr.hex()
    assert _crc_ok(fr, 1, length - 1), "FCS does not verify: " + fr.hex()


# ---------------------------------------------------------------------------------
# Reference framer (slow, whole stream at once)


def _judge(s, i):
    """The frame candidate at s[i] == 0x7E: ("frame", total), ("reject",) or ("wait",)
    when the stream ends before the candidate can be decided."""
    n = len(s) - i
    if n < 3:
        return ("wait",)
    f = s[i + 1]
    if f & 0xF0 != 0xA0:
        return ("reject",)
    length = ((f & 7) << 8) | s[i + 2]
    p = 3
    for _ in range(2):
        q = p + 4
        while p < n and p < q and not s[i + p] & 1:
            p += 1
        if p >= n:
            return ("wait",)
        if p >= q:
            return ("reject",)
        p += 1
    ctrl = p
    if length < ctrl + 2:
        return ("reject",)
    if length == ctrl + 2:  # no information field: not a push (waits for its end)
        return ("wait",) if n < length + 2 else ("reject",)
    if n < ctrl + 3:
        return ("wait",)
    if not _crc_ok(s, i + 1, i + ctrl + 1):
        return ("reject",)
    if length + 2 > SIZE:
        return ("reject",)
    if n < length + 2:
        return ("wait",)
    if s[i + length + 1] != 0x7E:
        return ("reject",)
    if not _crc_ok(s, i + 1, i + length - 1):
        return ("reject",)
    return ("frame", length + 2)


def oracle_frames(s):
    """Every frame a correct streaming framer delivers for stream s, in order."""
    out = []
    i = 0
    while True:
        i = s.find(b"\x7e", i)
        if i < 0:
            return out
        r = _judge(s, i)
        if r[0] == "wait":
            return out
        if r[0] == "frame":
            out.append(s[i : i + r[1]])
            i += r[1] - 1  # the closing flag may open the next frame
        else:
            i += 1  # restart the hunt at the byte after the rejected flag


# ---------------------------------------------------------------------------------
# Harness

# A feed() that never returns (the framer waiting for bytes it has no room for) would
# hang the suite: a 20 s alarm per call turns it into a failure. Not a timing check.
_HANG_S = 20.0
_WATCHDOG = hasattr(signal, "setitimer")


class FeedHang(AssertionError):
    pass


def _on_alarm(signum, frame):
    raise FeedHang("feed() did not return within %d s: infinite loop?" % _HANG_S)


def guarded_feed(d, chunk):
    if not _WATCHDOG or threading.current_thread() is not threading.main_thread():
        d.feed(chunk)
        return
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, _HANG_S)
    try:
        d.feed(chunk)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class Run:
    """A Decoder plus everything it reported. Checks, inside the callbacks, that
    every delivered frame is CRC-valid, and after every feed() the memory invariants."""

    def __init__(self):
        self.readings = []  # to_json() of each reading
        self.frames = []  # raw bytes of the frame behind each reading
        self.delivered = []  # raw bytes of every frame that passed HDLC (decoded or not)
        self.errors = []  # (reason, offset)
        self.fed = 0
        self.d = Decoder(self._on_reading, self._on_error)
        self.buf = self.d.framer._buf
        self.size = len(self.buf)

    def _on_reading(self, rd):
        fr = bytes(self.d.frame)
        verify_frame(fr)
        self.frames.append(fr)
        self.delivered.append(fr)
        self.readings.append(rd.to_json())

    def _on_error(self, reason, offset):
        if reason not in ERROR_TEXT:  # a frame that passed HDLC but did not decode
            verify_frame(self.d.frame)
            self.delivered.append(bytes(self.d.frame))
        self.errors.append((reason, offset))

    def feed(self, chunk):
        guarded_feed(self.d, chunk)
        self.fed += len(chunk)
        self.check_invariants()

    def check_invariants(self):
        fr = self.d.framer
        assert fr._buf is self.buf and len(fr._buf) == self.size
        assert 0 <= fr.pending() <= self.size
        assert 0 <= fr._n <= self.size
        # Every byte fed is either held or accounted for in the stream offset.
        assert fr.offset + fr._n == self.fed
        assert fr._seg is None or len(fr._seg) == self.size
        d = self.d
        assert d.decoded == len(self.readings)
        assert d.decoded + d.unknown <= d.good

    def feed_chunks(self, data, cuts):
        prev = 0
        for c in list(cuts) + [len(data)]:
            self.feed(data[prev:c])
            prev = c

    def state(self):
        d = self.d
        return (
            self.readings,
            self.delivered,
            self.errors,
            (d.good, d.bad_crc, d.bad_length, d.unknown, d.decoded, d.framer.pending()),
        )


def decode_clean(frames):
    """Readings for frames fed back to back, one feed() per frame, fresh Decoder."""
    r = Run()
    for f in frames:
        r.feed(f)
    return r.readings


ALONE = {f: decode_clean([f]) for f in FRAMES}


def test_corpus_population():
    # Sanity: the population is what the properties assume it is.
    assert len(FRAMES) >= 50
    for f in FRAMES:
        verify_frame(f)
        assert len(ALONE[f]) == 1, f.hex()


# ---------------------------------------------------------------------------------
# Strategies

SPECIAL = [0x7E] + list(range(0xA0, 0xB0))
frame_st = st.sampled_from(FRAMES)

special_bytes_st = st.lists(
    st.one_of(st.sampled_from(SPECIAL), st.integers(0, 255)), max_size=48
).map(bytes)


@st.composite
def fake_header_st(draw, max_length=2047):
    """7E, format, addresses, control and a correct HCS, announcing a random length:
    a false start that survives the header check and must be waited out (or, when
    it announces more than the buffer holds, is rejected at once)."""
    seg = draw(st.booleans())
    dst = draw(st.integers(1, 4))
    src = draw(st.integers(1, 4))
    addr = []
    for k in (dst, src):
        for j in range(k):
            b = draw(st.integers(0, 127)) << 1
            addr.append(b | 1 if j == k - 1 else b)
    ctrl = draw(st.integers(0, 255))
    hdr_len = 2 + dst + src + 1  # format .. control
    length = draw(
        st.one_of(
            st.integers(hdr_len + 3, max_length),
            st.integers(min(max_length, SIZE - 40), min(max_length, SIZE - 1)),
        )
    )
    fmt = 0xA0 | (0x08 if seg else 0) | (length >> 8)
    body = bytes([fmt, length & 0xFF] + addr + [ctrl])
    c = crc_x25(body)
    return b"\x7e" + body + bytes([c & 0xFF, c >> 8])


@st.composite
def truncated_st(draw):
    """A corpus frame cut short, missing at least its FCS and closing flag and one
    more byte, so that nothing that follows can complete it by chance."""
    f = draw(frame_st)
    k = draw(st.integers(1, len(f) - 4))
    return f[:k]


noise_piece_st = st.one_of(
    st.binary(max_size=64),
    special_bytes_st,
    fake_header_st(),
    truncated_st(),
)
noise_st = st.lists(noise_piece_st, max_size=3).map(b"".join)


@st.composite
def stream_st(draw, max_frames=4):
    """(stream, frames placed in it): corpus frames with noise between them, or back
    to back: with both flags (…7E 7E A0…) or sharing one flag (…7E A0…)."""
    frames = draw(st.lists(frame_st, min_size=1, max_size=max_frames))
    parts = []
    for i, f in enumerate(frames):
        gap = draw(st.sampled_from(["noise", "none", "shared"]))
        if gap == "noise" or i == 0:
            parts.append(draw(noise_st))
            parts.append(f)
        elif gap == "none":
            parts.append(f)
        else:
            parts.append(f[1:])  # the previous frame's closing flag opens this one
    parts.append(draw(noise_st))
    return b"".join(parts), frames


@st.composite
def cuts_st(draw, n):
    """Sorted cut points splitting n bytes into chunks."""
    if n < 2:
        return []
    mode = draw(st.sampled_from(["random", "sizes"]))
    if mode == "random":
        return sorted(draw(st.sets(st.integers(1, n - 1), max_size=min(n - 1, 40))))
    cuts = []
    pos = 0
    sizes = draw(st.lists(st.integers(1, 300), min_size=1, max_size=8))
    i = 0
    while True:
        pos += sizes[i % len(sizes)]
        i += 1
        if pos >= n:
            return cuts
        cuts.append(pos)


# HANMQ_PROPERTIES_SCALE=10 runs ten times as many examples (a deeper hunt).
_SCALE = float(os.environ.get("HANMQ_PROPERTIES_SCALE", "1"))


def _fast(n):
    return settings(
        max_examples=max(1, int(n * _SCALE)),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# ---------------------------------------------------------------------------------
# 1. Random bytes: no exception, fixed buffer, bounded pending


@_fast(1200)
@given(
    data=st.one_of(
        st.binary(max_size=6000),
        st.lists(
            st.one_of(st.sampled_from(SPECIAL), st.integers(0, 255)), max_size=6000
        ).map(bytes),
    ),
    chunking=st.data(),
)
def test_random_bytes_never_raise_and_buffer_is_fixed(data, chunking):
    r = Run()
    r.feed_chunks(data, chunking.draw(cuts_st(len(data))))
    # Whatever came out is exactly what the reference framer finds.
    assert r.delivered == oracle_frames(data)


@_fast(100)
@given(head=fake_header_st(max_length=SIZE - 2), data=st.data())
def test_pending_bounded_while_a_false_start_waits(head, data):
    # A header with a good HCS announcing `length`: everything up to its announced end
    # is held (and reported pending), never more than the buffer.
    length = ((head[1] & 7) << 8) | head[2]
    n = length + 1  # all but the byte where its closing flag should be
    fill = data.draw(st.binary(min_size=n - len(head), max_size=n - len(head)))
    r = Run()
    r.feed_chunks(head + fill, data.draw(cuts_st(n)))
    assert r.d.framer.pending() == n <= SIZE
    # The last byte is not a flag: rejected, and the hunt resumes inside the held bytes.
    r.feed(b"\x00")
    assert r.errors[0][1] == 0
    assert r.d.framer.pending() < n
    assert r.delivered == oracle_frames(head + fill + b"\x00")


# ---------------------------------------------------------------------------------
# 2. Valid frames with noise between them: all decoded, in order


def _check_readings(got, frames):
    # Same readings as the clean stream, and as each frame alone except for the maker
    # inferred from an earlier frame (Aidon/L+G list 1 names no maker).
    assert got == decode_clean(frames)
    for j, f in zip(got, frames):
        a = json.loads(j)
        b = json.loads(ALONE[f][0])
        if "meter_manufacturer" not in b:
            a.pop("meter_manufacturer", None)
        assert a == b


@_fast(600)
@given(sf=stream_st(), chunking=st.data())
def test_frames_in_noise_all_decoded_in_order(sf, chunking):
    stream, frames = sf
    r = Run()
    r.feed_chunks(stream, chunking.draw(cuts_st(len(stream))))
    # Before the line goes idle: exactly what the reference framer can decide.
    assert r.delivered == oracle_frames(stream)
    # A false start (fake header with a good HCS) holds later frames back until its
    # announced length has passed; MAX_FRAME idle bytes settle every candidate.
    flush = bytes(SIZE)
    r.feed_chunks(flush, range(256, SIZE, 256))
    assert r.delivered == oracle_frames(stream + flush)
    assert r.frames == frames
    _check_readings(r.readings, frames)
    assert r.d.framer.pending() == 0


# ---------------------------------------------------------------------------------
# 3. A truncated frame followed by a complete one


@_fast(800)
@given(x=frame_st, y=frame_st, kk=st.data(), chunking=st.data())
def test_truncated_frame_then_complete_frame(x, y, kk, chunking):
    k = kk.draw(
        st.one_of(st.integers(0, len(x) - 1), st.sampled_from([len(x) - 1, len(x) - 2])),
        label="k",
    )
    stream = x[:k] + y
    r = Run()
    r.feed_chunks(stream, chunking.draw(cuts_st(len(stream))))
    assert r.delivered == oracle_frames(stream)
    # x cut just before its closing flag gets y's opening flag as its closing flag:
    # then both are (rightly) complete frames.
    want = [x, y] if k == len(x) - 1 else [y]
    # The cut frame can hold y back only until its own announced length has passed.
    late = max(0, len(x) - k - len(y))
    if late == 0:
        assert r.frames == want
    r.feed(bytes(late))
    assert r.frames == want
    _check_readings(r.readings, want)


# ---------------------------------------------------------------------------------
# 4. Bit flips are never reported as a good frame


@st.composite
def flips_st(draw, nbits):
    """A set of bit positions (serial order: byte i, bit j = 8*i + j, LSB first, as the
    UART sends them) whose flipping CRC-16/X.25 is guaranteed to detect."""
    kind = draw(st.sampled_from(["few", "odd", "burst"]))
    if kind == "few":  # 1, 2 or 3 bits anywhere
        k = draw(st.integers(1, 3))
        return sorted(draw(st.sets(st.integers(0, nbits - 1), min_size=k, max_size=k)))
    if kind == "odd":  # any odd number of bits
        k = draw(st.sampled_from([1, 3, 5, 7, 9, 11, 13, 15, 17, 31]))
        return sorted(draw(st.sets(st.integers(0, nbits - 1), min_size=k, max_size=k)))
    m = draw(st.integers(1, 16))  # burst of length m <= 16: first and last bits set
    start = draw(st.integers(0, nbits - m))
    bits = {start, start + m - 1}
    for t in range(start + 1, start + m - 1):
        if draw(st.booleans()):
            bits.add(t)
    return sorted(bits)


def _flip(f, bits):
    b = bytearray(f)
    for t in bits:
        b[t >> 3] ^= 1 << (t & 7)
    return bytes(b)


@_fast(1500)
@given(f=frame_st, data=st.data())
def test_flipped_bits_never_decode(f, data):
    bits = data.draw(flips_st(8 * len(f)), label="bits")
    g = _flip(f, bits)
    assert g != f
    r = Run()
    r.feed_chunks(g, data.draw(cuts_st(len(g))))
    r.feed(bytes(SIZE))  # settle anything the flips left waiting
    assert r.readings == [] and r.frames == []
    assert r.d.good == 0, "a corrupted frame was counted good"
    # Followed by the intact frame: exactly that frame comes out, byte for byte.
    r = Run()
    r.feed_chunks(g + f, data.draw(cuts_st(len(g) + len(f))))
    r.feed(bytes(SIZE))
    assert r.frames == [f]
    assert r.readings == ALONE[f]
    assert r.d.good == 1


# ---------------------------------------------------------------------------------
# 5. 1 MB of mixed noise and frames: memory stays bounded


def build_frame(addr_ctrl, info, segmented=False):
    """A frame with the given address and control bytes and information field."""
    length = 2 + len(addr_ctrl) + 2 + len(info) + 2
    head = bytes([0xA0 | (0x08 if segmented else 0) | (length >> 8), length & 0xFF])
    head += addr_ctrl
    c = crc_x25(head)
    body = head + bytes([c & 0xFF, c >> 8]) + info
    c = crc_x25(body)
    return b"\x7e" + body + bytes([c & 0xFF, c >> 8, 0x7E])


def segment(f, cuts):
    """Corpus frame f sent as a segmented message (IEC 62056-46 6.4.3): its
    information field split at `cuts`, every frame but the last with the S bit."""
    ctrl = header_end(f)
    info = f[ctrl + 3 : -3]
    edges = [0] + sorted(cuts) + [len(info)]
    n = len(edges) - 1
    return [
        build_frame(f[3 : ctrl + 1], info[edges[i] : edges[i + 1]], i < n - 1)
        for i in range(n)
    ]


def test_segment_builder():
    for f in FRAMES:
        assert build_frame(f[3 : header_end(f) + 1], f[header_end(f) + 3 : -3]) == f
        segs = segment(f, [5, 20])
        r = Run()
        for g in segs:
            verify_frame(g)
            r.feed(g)
        assert r.readings == ALONE[f] and r.frames == [segs[-1]]


def _megabyte(rng):
    """About 1 MB: corpus frames (some sent segmented), random noise, noise rich in
    7E and A0..AF, truncated frames and false starts with a good HCS."""
    parts = []
    frames = []  # the frame each reading must come from (a message's last segment)
    messages = []  # the corpus frame behind each reading
    total = 0
    while total < 1 << 20:
        kind = rng.random()
        if kind < 0.3:
            f = rng.choice(FRAMES)
            segs = [f]
            if rng.random() < 0.2:
                info_len = len(f) - header_end(f) - 6
                cuts = rng.sample(range(1, info_len), rng.randrange(1, 4))
                segs = segment(f, cuts)
            parts.extend(segs)
            frames.append(segs[-1])
            messages.append(f)
            total += sum(len(g) for g in segs)
            continue
        n = rng.randrange(1, 3000)
        if kind < 0.6:
            p = bytes(rng.getrandbits(8) for _ in range(n))
        elif kind < 0.8:
            p = bytes(rng.choice(SPECIAL) if rng.random() < 0.5 else rng.getrandbits(8)
                      for _ in range(n))
        elif kind < 0.9:
            f = rng.choice(FRAMES)
            p = f[: rng.randrange(1, len(f) - 3)]  # truncated frame
        else:
            # a false start with a good HCS and a long announced length
            length = rng.randrange(20, 2048)
            body = bytes([0xA0 | (length >> 8), length & 0xFF, 0x41, 0x08, 0x83, 0x13])
            c = crc_x25(body)
            p = b"\x7e" + body + bytes([c & 0xFF, c >> 8])
        parts.append(p)
        total += len(p)
    return b"".join(parts), frames, messages


@settings(max_examples=2, deadline=None, database=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_megabyte_memory_bounded(seed):
    rng = random.Random(seed)
    stream, frames, messages = _megabyte(rng)
    assert len(stream) >= 1 << 20
    r = Run()
    fr = r.d.framer
    buf = fr._buf
    seg = None
    i = 0
    while i < len(stream):
        n = rng.choice((1, 7, 64, 256, 1024, 4096))
        r.feed(stream[i : i + n])  # checks buffer identity and size on every call
        i += n
        if fr._seg is not None:  # allocated once, on the first segmented message
            assert seg is None or fr._seg is seg
            seg = fr._seg
    r.feed(bytes(SIZE))
    assert fr._buf is buf and len(fr._buf) == SIZE
    assert seg is not None and fr._seg is seg and len(seg) == SIZE
    assert fr.pending() <= SIZE
    assert r.frames == frames
    assert r.readings == decode_clean(messages)
    assert r.d.decoded == len(messages)


# ---------------------------------------------------------------------------------
# 6. Chunking invariance


@_fast(400)
@given(sf=stream_st(max_frames=3), chunking=st.data())
def test_chunking_invariance(sf, chunking):
    stream, _ = sf
    whole = Run()
    whole.feed(stream)
    ref = whole.state()
    assert whole.delivered == oracle_frames(stream)
    for cuts in (
        range(1, len(stream)),  # one byte at a time
        chunking.draw(cuts_st(len(stream)), label="cuts"),
    ):
        r = Run()
        r.feed_chunks(stream, cuts)
        assert r.state() == ref  # readings, frames, errors with offsets, counters
