# meter_uart.py: read the meter's UART into the decoder, and find its parity.
# MIT license; Copyright (c) 2026 hanmq
#
# Aidon, Kaifa and Landis+Gyr send 8E1, Kamstrup 8N1 (protocol.md 1.3). Reading
# with the wrong parity does not give silence but bursts of checksum errors, so in
# "auto" mode the reader starts with 8E1 and flips to the other setting whenever
# several frames fail their checks while none passes.

import hw

EVEN = 0  # machine.UART parity: 0 even, 1 odd, None none
NONE = None

_PARITY = {"aidon": EVEN, "kaifa": EVEN, "landis_gyr": EVEN, "kamstrup": NONE}

#: Failed frames without a good one before the other parity is tried.
FLIP_AFTER = 4

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
            self._check_parity()
        return n

    def closed(self):
        return hw.uart_closed(self.uart)

    def _check_parity(self):
        good, bad = self._counts()
        if good > self._mark[0]:
            self._mark = (good, bad)  # frames pass: this parity is right
        elif bad - self._mark[1] >= FLIP_AFTER:
            self.parity = NONE if self.parity == EVEN else EVEN
            if self.log:
                self.log("W", "meter: %d frames failed their checks, trying %s", FLIP_AFTER,
                         "8N1" if self.parity is NONE else "8E1")
            self._mark = (good, bad)
            self.uart = hw.uart(self.parity)
