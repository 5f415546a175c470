# decoder.py: bytes from the HAN port in, readings out, with counters.
# MIT license; Copyright (c) 2026 hanmq

from han import fields
from han.dlms import E_MALFORMED, decode_apdu
from han.hdlc import ERROR_TEXT, MAX_FRAME, Framer
from han.reading import Reading


class Decoder:
    """Streaming decoder: feed(chunk) with any slice of the byte stream.

    on_reading(reading) is called for each decoded frame with one Reading object that
    is reused for the next frame: read it during the call, do not keep it.
    on_error(reason, offset) gets every frame that failed a check or could not be
    decoded, with its stream offset. `frame` views the raw frame during the calls.
    Both may be set or replaced later (attributes of the same names)."""

    def __init__(self, on_reading=None, on_error=None, size=MAX_FRAME, buf=None):
        self.on_reading = on_reading
        self.on_error = on_error
        self.framer = Framer(self._on_frame, self._on_framer_error, size, buf)
        self.reading = Reading()
        self.manufacturer = None  # last maker seen on this stream
        self.decoded = 0
        self.unknown = 0

    def feed(self, data):
        self.framer.feed(data)

    # Counters (DESIGN.md 5, diagnostics)
    @property
    def good(self):
        return self.framer.good

    @property
    def bad_crc(self):
        return self.framer.bad_crc

    @property
    def bad_length(self):
        return self.framer.bad_length

    @property
    def frame(self):
        return self.framer.frame

    def _on_framer_error(self, code, offset):
        if self.on_error:
            self.on_error(ERROR_TEXT[code], offset)

    def _on_frame(self, info):
        rd = self.reading
        rd.clear()
        try:
            err = decode_apdu(info, rd, self.manufacturer)
        except (IndexError, ValueError):
            err = E_MALFORMED
        if err is not None:
            self.unknown += 1
            if self.on_error:
                self.on_error(err, self.framer.offset)
            return
        if rd.has[fields.METER_MANUFACTURER]:
            self.manufacturer = rd.text[fields.METER_MANUFACTURER]
        self.decoded += 1
        if self.on_reading:
            self.on_reading(rd)
