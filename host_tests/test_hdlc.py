# test_hdlc.py: the streaming framer on real frames cut, joined and damaged.
# MIT license; Copyright (c) 2026 hanmq

from conftest import load_corpus
from frame_builder import hdlc_frame
from han.crc import crc16
from han.decoder import Decoder
from han.hdlc import Framer

FRAMES = {r["id"]: bytes.fromhex(r["hex"]) for r in load_corpus() if r["format"] == "hdlc"}
AIDON_L1_7D = FRAMES["aidon-no-l1-amshan-hdlc-aidon"]  # power 0x067D: 7D in data
KAIFA_L1_7E = FRAMES["kaifa-no-l1-amshan-hdlc-kaifa"]  # power 0x157E: 7E in data
AIDON_L3 = FRAMES["aidon-no-l3-ams-gh1119-1"]
KAMSTRUP_L3 = FRAMES["kamstrup-no-l3-ams-em001-1"]
KAIFA_L2 = FRAMES["kaifa-no-l2-ams-gh493-1"]


class Sink:
    def __init__(self):
        self.readings = []
        self.errors = []
        self.dec = Decoder(lambda rd: self.readings.append(rd.to_json()), self.on_error)

    def on_error(self, reason, offset):
        self.errors.append((reason, offset))

    def feed(self, data, chunk=None):
        if chunk is None:
            self.dec.feed(data)
        else:
            for i in range(0, len(data), chunk):
                self.dec.feed(data[i : i + chunk])
        return self


def alone(frame):
    return Sink().feed(frame).readings


def test_crc_check_value():
    assert crc16(b"123456789", 0, 9) == 0x906E
    # protocol.md 2.2: Kamstrup header A0 E2 2B 21 13 -> 0x9A23, sent as 23 9A
    assert crc16(bytes.fromhex("A0E22B2113"), 0, 5) == 0x9A23


def test_flag_and_escape_bytes_inside_data_are_data():
    assert alone(AIDON_L1_7D) == ['{"active_power_import": 1661}']
    assert '"active_power_import": 5502' in alone(KAIFA_L1_7E)[0]


def test_frame_split_across_many_reads():
    for chunk in (1, 2, 3, 7, 64):
        s = Sink().feed(AIDON_L3, chunk)
        assert s.readings == alone(AIDON_L3)
        assert s.dec.good == 1 and not s.errors


def test_several_frames_in_one_read_with_shared_and_double_flags():
    shared = KAIFA_L2 + KAMSTRUP_L3[1:] + AIDON_L1_7D[1:]  # closing flag opens the next
    double = KAIFA_L2 + KAMSTRUP_L3 + AIDON_L1_7D
    want = alone(KAIFA_L2) + alone(KAMSTRUP_L3) + alone(AIDON_L1_7D)
    for stream in (shared, double):
        s = Sink().feed(stream)
        assert len(s.readings) == 3
        # manufacturer carried over only where the layout allows it
        assert s.readings[0] == want[0] and s.readings[1] == want[1]
        assert not s.errors


def test_garbage_before_between_and_after_frames():
    junk = b"\x00\xff\x7e\xa0\x13\x7e\x7e\x55" * 5
    s = Sink().feed(junk + AIDON_L3 + junk + KAMSTRUP_L3 + junk, 5)
    assert s.readings == alone(AIDON_L3) + alone(KAMSTRUP_L3)


def test_capture_starting_mid_frame():
    s = Sink().feed(AIDON_L3[150:] + KAMSTRUP_L3)
    assert s.readings == alone(KAMSTRUP_L3)


def test_truncated_frame_followed_by_next_frame():
    # Dropped bytes, then the next frame (amsreader #988): the hunt restarts after
    # the rejected opening flag and finds the next frame inside the held bytes.
    s = Sink().feed(AIDON_L3[:200] + KAMSTRUP_L3 + KAIFA_L2)
    assert s.readings == alone(KAMSTRUP_L3) + alone(KAIFA_L2)
    assert s.dec.bad_length + s.dec.bad_crc >= 1


def test_trailing_extra_byte_after_closing_flag():
    s = Sink().feed(KAMSTRUP_L3 + b"\x00" + KAIFA_L2)
    assert s.readings == alone(KAMSTRUP_L3) + alone(KAIFA_L2)


def test_bad_fcs_is_counted_and_skipped():
    bad = bytearray(KAMSTRUP_L3)
    bad[100] ^= 0x04
    s = Sink().feed(bytes(bad) + KAIFA_L2)
    assert s.readings == alone(KAIFA_L2)
    assert s.dec.bad_crc == 1 and s.errors[0][0].startswith("bad FCS")
    assert s.errors[0][1] == 0  # offset of the rejected frame


def test_bad_hcs_is_counted():
    bad = bytearray(KAMSTRUP_L3)
    bad[4] ^= 0x01  # control byte
    s = Sink().feed(bytes(bad))
    assert s.readings == [] and s.dec.bad_crc >= 1
    assert s.errors[0][0].startswith("bad HCS")


def test_recorded_corrupt_frames_are_rejected():
    for rid in ("kamstrup-no-l2-ams-gh175-1", "kamstrup-no-l2-ams-gh175-3"):
        s = Sink().feed(FRAMES[rid])
        assert s.readings == [] and s.dec.bad_crc == 1


def test_missing_closing_flag_is_bad_length():
    bad = bytearray(KAIFA_L2)
    bad[-1] = 0x00
    s = Sink().feed(bytes(bad) + KAMSTRUP_L3)
    assert s.dec.bad_length == 1
    assert s.readings == alone(KAMSTRUP_L3)


def test_buffer_never_grows_and_long_frames_are_refused():
    d = Decoder(lambda rd: None, size=300)
    buf = d.framer._buf
    d.feed(AIDON_L3)  # 396 bytes do not fit a 300-byte framer
    assert d.bad_length == 1 and d.decoded == 0
    d.feed(KAIFA_L2 + bytes(range(256)) * 20)
    assert d.decoded == 1 and d.framer._buf is buf and len(buf) == 300


def _segment(info_parts):
    # One message carried by several frames: the S bit on all but the last.
    return b"".join(
        hdlc_frame(part, segmented=i < len(info_parts) - 1) for i, part in enumerate(info_parts)
    )


def test_segmented_message_is_reassembled():
    info = AIDON_L3[9:-3]  # LLC + APDU of a list 3 frame (after 7E A1 8A 41 08 83 13 HCS)
    frames = _segment([info[:100], info[100:250], info[250:]])
    s = Sink().feed(frames, 9)
    assert s.readings == alone(AIDON_L3)
    assert s.dec.good == 3


def test_framer_reports_only_frames_whose_checks_pass():
    seen = []
    f = Framer(lambda info: seen.append(bytes(f.frame)))
    f.feed(b"\x7e\x7e" + KAIFA_L2 + AIDON_L1_7D)
    assert seen == [KAIFA_L2, AIDON_L1_7D]
    assert f.pending() == 0


class Trickle:
    """A non-blocking stream that hands out its bytes a few at a time, like a UART."""

    def __init__(self, data, step):
        self.data = data
        self.step = step

    def readinto(self, buf):
        k = min(self.step, len(buf), len(self.data))
        if not k:
            return None
        buf[:k] = self.data[:k]
        self.data = self.data[k:]
        return k


def test_read_from_a_uart_like_stream():
    junk = b"\x13\x00\x7e\xa1" * 3
    stream = junk + AIDON_L3 + junk + KAMSTRUP_L3 + KAIFA_L1_7E
    for step in (1, 5, 22, 300, 5000):
        s = Sink()
        src = Trickle(stream, step)
        while s.dec.framer.read_from(src):
            pass
        assert s.readings == alone(AIDON_L3) + alone(KAMSTRUP_L3) + alone(KAIFA_L1_7E)
