# meter_uart.py: read the meter's UART into the decoder, and find its parity.
# MIT license; Copyright (c) 2026 hanmq
#
# Aidon, Kaifa and Landis+Gyr send 8E1, Kamstrup 8N1 (protocol.md 1.3). A UART set to
# the wrong parity keeps what it receives (the ESP32 flags no error a program can see):
# 8E1 read as 8N1 gives the right bytes, with framing errors nobody reports; 8N1 read
# as 8E1 gives garbage, misaligned after the first byte of a burst, which rarely even
# looks like a frame. So in "auto" mode the reader starts with 8E1 and flips to the
# other setting when FLIP_BYTES arrive, or FLIP_AFTER frames fail their checks, with
# no frame passing: a meter sends a good frame at least every 10 s (about 300 bytes).

import hw

EVEN = 0  # machine.UART parity: 0 even, 1 odd, None none
NONE = None

_PARITY = {"aidon": EVEN, "kaifa": EVEN, "landis_gyr": EVEN, "kamstrup": NONE}

#: Failed frames without a good one before the other parity is tried,
FLIP_AFTER = 4
#: or bytes without a good frame: two of Kamstrup's 10 s lists (188 to 303 bytes).
FLIP_BYTES = 400

#: Bytes read in one go while a frame is still arriving. Reads otherwise wait until
#: the line falls silent (a frame's end), so a frame costs a few reads, not hundreds.
BATCH = 128


class MeterUART:
    def __init__(self, decoder, meter="auto", log=None):
        self.decoder = decoder
        self.auto = meter not in _PARITY
        self.parity = _PARITY.get(meter, EVEN)
        self.log = log
        self.bytes = 0
        self.reopens = 0
        self._waiting = 0
        self._mark = self._counts()
        self._unproven = 0  # bytes since the last good frame (or flip)
        self.uart = hw.uart(self.parity)

    def reopen(self):
        """Open the UART again, as it is (a driver that stopped delivering)."""
        self.reopens += 1
        self._waiting = 0
        self.uart = hw.uart(self.parity)

    def _counts(self):
        d = self.decoder
        return d.good, d.bad_crc + d.bad_length

    def poll(self):
        """Feed what the UART holds to the decoder, straight into its frame buffer.
        Call it every few milliseconds; returns bytes read."""
        u = self.uart
        waiting = u.any()
        if not waiting:
            return 0
        if waiting < BATCH and waiting != self._waiting:
            self._waiting = waiting  # still arriving: wait for the line to fall silent
            return 0
        self._waiting = 0
        n = self.decoder.framer.read_from(u)
        self.bytes += n
        if n and self.auto:
            self._unproven += n
            self._check_parity()
        return n

    def closed(self):
        return hw.uart_closed(self.uart)

    def _check_parity(self):
        good, bad = self._counts()
        if good > self._mark[0]:
            self._mark = (good, bad)  # frames pass: this parity is right
            self._unproven = 0
        elif bad - self._mark[1] >= FLIP_AFTER or self._unproven >= FLIP_BYTES:
            self.parity = NONE if self.parity == EVEN else EVEN
            if self.log:
                self.log("W", "meter: %d bytes, %d bad frames and no good one: trying %s",
                         self._unproven, bad - self._mark[1],
                         "8N1" if self.parity is NONE else "8E1")
            self._mark = (good, bad)
            self._unproven = 0
            self.uart = hw.uart(self.parity)
