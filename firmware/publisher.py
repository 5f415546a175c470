# publisher.py: readings to MQTT topics (DESIGN.md section 5).
# MIT license; Copyright (c) 2026 hanmq
#
#   <base>/status          retained "online" (the link's last will says "offline")
#   <base>/reading         one JSON object per frame
#   <base>/<field>         one plain value per field (energies retained)
#   <base>/diagnostics     counters as JSON, and one topic per counter
#   <base>/raw             hex of the whole frame, 7E to 7E (optional)
#   <prefix>/sensor/...    Home Assistant discovery, retained
#
# Every reading goes through the outbox, so one path serves both the live stream
# and the catch-up after an outage. An energy register is published only from a
# frame whose checks passed (the decoder gives no other) and never lower than the
# last value accepted: a meter does not run backwards.

import gc
import sys
from binascii import hexlify

from han import fields
from outbox import Outbox

_DIAGNOSTICS = 11  # len(ha.DIAGNOSTICS): ha is loaded only while announcing

_ENERGY_KINDS = (fields.K_WH, fields.K_VARH)


def json_fields(js):
    """(name, value text) for each field of a JSON object made by Reading.to_json()
    (flat, keys without escapes, strings with \\ and \" escaped). Numbers stay text:
    no float ever holds an energy register."""
    i = 1
    n = len(js)
    while i < n:
        q = js.find(b'"', i)
        if q < 0:
            return
        e = js.find(b'"', q + 1)
        name = js[q + 1 : e]
        i = e + 3  # past '": '
        if js[i : i + 1] == b'"':
            j = i + 1
            out = bytearray()
            while js[j : j + 1] != b'"':
                if js[j : j + 1] == b"\\":
                    j += 1
                out += js[j : j + 1]
                j += 1
            yield name, bytes(out)
            i = j + 2
        else:
            j = i
            while j < n and js[j : j + 1] not in b",}":
                j += 1
            yield name, js[i:j]
            i = j + 1


class Publisher:
    #: Messages sent per service() call at most, so the UART is read in between.
    burst = 40

    def __init__(self, link, base, discovery=None, raw=False, budget=12288, log=None):
        self.link = link
        self.base = base.encode() if isinstance(base, str) else base
        self._prefix = self.base + b"/"
        # A Discovery, or the arguments of one: then ha.py is loaded only while there
        # is something to announce, and dropped after (it is rarely needed: at each
        # connect, and when Home Assistant restarts).
        self.discovery = discovery
        self.raw = raw
        self.outbox = Outbox(budget)
        self.log = log
        self.published = 0  # readings fully published
        self.energy_rejected = 0
        self._last_wh = {}  # energy field id -> last accepted integer Wh (varh)
        self._falling = []  # energy fields whose fall was logged
        self._seen = bytearray(fields.COUNT)  # fields announced to Home Assistant
        self._device = (None, None, None)  # manufacturer, model, serial
        self._progress = 0  # messages of the outbox head already sent
        self._announce = []  # discovery messages still to send: field ids, then -1-i for diagnostics
        self._diagnostics = None
        self._loaded = None  # the Discovery while announcing, when loaded on demand

    # -- from the decoder ------------------------------------------------------

    def on_reading(self, rd, frame=None):
        try:
            self._take(rd, frame)
        except MemoryError:  # this reading is lost (counted), not the dongle
            self.outbox.dropped += 1
            gc.collect()
            self._log("W", "heap full: reading dropped")

    def _take(self, rd, frame):
        has = rd.has
        kinds = fields.KINDS
        if has[fields.METER_ID] and rd.text[fields.METER_ID] != self._device[2]:
            self._last_wh = {}  # another meter (a replacement): its registers start anew
        for fid in range(fields.COUNT):
            if not has[fid]:
                continue
            if kinds[fid] in _ENERGY_KINDS:
                wh = rd.energy_wh(fid)
                last = self._last_wh.get(fid)
                if last is not None and wh < last:
                    has[fid] = 0
                    self.energy_rejected += 1
                    if fid not in self._falling:  # once until the register recovers
                        self._falling.append(fid)
                        self._log("W", "energy %s fell from %d to %d: not published",
                                  fields.name(fid), last, wh)
                    continue
                self._last_wh[fid] = wh
                if fid in self._falling:
                    self._falling.remove(fid)
            if not self._seen[fid]:
                self._seen[fid] = 1
                self._announce.append(fid)
        self._learn_device(rd)
        try:
            js = rd.to_json().encode()
        except MemoryError:
            # The heap is short (a long outage filled the outbox, or a page is being
            # served): give up the oldest waiting reading rather than this one, and try
            # once more (failing that, on_reading drops this one).
            self.outbox.shed()
            gc.collect()
            js = rd.to_json().encode()
        hourly = rd.list_no == 3
        self.outbox.put(js, hourly)
        if hourly and not self.link.connected():
            self._log("I", "hourly reading kept for the broker (%d waiting)", len(self.outbox))
        if self.link.connected():
            if self.raw and frame is not None:
                self.link.publish(self.base + b"/raw", hexlify(frame))
            self.service()  # straight out while the link is up: lowest latency

    def _learn_device(self, rd):
        t = rd.text
        dev = (
            t[fields.METER_MANUFACTURER] if rd.has[fields.METER_MANUFACTURER] else self._device[0],
            t[fields.METER_TYPE] if rd.has[fields.METER_TYPE] else self._device[1],
            t[fields.METER_ID] if rd.has[fields.METER_ID] else self._device[2],
        )
        if dev != self._device:
            self._device = dev
            self.announce()  # the device block changed: every sensor carries it

    # -- from the link ---------------------------------------------------------

    def on_connect(self):
        self.link.publish(self.base + b"/status", b"online", True)
        self.announce()  # a broker without persistence forgot the retained configs

    def goodbye(self):
        """A clean stop: retained "offline" (what the last will would have said), then
        DISCONNECT."""
        if self.link.connected():
            self.link.publish(self.base + b"/status", b"offline", True)
        self.link.close()

    def on_ha_status(self, topic, msg):
        if msg == b"online":  # Home Assistant restarted: announce again
            self.announce()

    def announce(self):
        if self.discovery is None:
            return
        self._announce = [fid for fid in range(fields.COUNT) if self._seen[fid]]
        self._announce += [-1 - i for i in range(_DIAGNOSTICS)]

    # -- the loop ----------------------------------------------------------------

    def pending(self):
        """Messages still to send: readings and discovery."""
        return len(self.outbox) + len(self._announce)

    def set_diagnostics(self, js):
        """Latest counters as a JSON object (bytes); sent when the link is up."""
        self._diagnostics = js

    def service(self):
        """Send what is waiting, at most `burst` messages. Returns messages sent."""
        sent = 0
        while sent < self.burst and self.link.connected():
            try:
                if not self._send_next():
                    break
            except MemoryError:
                # No room just now (a page being served, an outage's outbox): what was
                # not sent stays queued for a later turn.
                gc.collect()
                break
            sent += 1
        return sent

    def _send_next(self):
        """One message out, oldest work first; False when nothing was sent."""
        link = self.link
        if self._announce and self.discovery is not None:
            if not self._send_discovery(self._announce[0]):
                return False
            self._announce.pop(0)
            if not self._announce:
                self._unload_discovery()
        elif len(self.outbox):
            if not self._send_reading(self.outbox.peek()):
                return False
            self.outbox.pop()
            self.published += 1
        elif self._diagnostics is not None:
            js = self._diagnostics
            if not link.publish(self.base + b"/diagnostics", js):
                return False
            for name, value in json_fields(js):
                link.publish(self._prefix + name, value)
            self._diagnostics = None
        else:
            return False
        return True

    def _discovery(self):
        d = self.discovery
        if isinstance(d, tuple):
            from ha import Discovery

            d = self._loaded = Discovery(*d)
        return d

    def _unload_discovery(self):
        if isinstance(self.discovery, tuple) and self._loaded is not None:
            self._loaded = None
            sys.modules.pop("ha", None)
            gc.collect()

    def _send_discovery(self, item):
        d = self._loaded or self._discovery()
        dev = d.device(*self._device)
        msg = d.for_field(item, dev) if item >= 0 else d.for_diagnostic(-1 - item, dev)
        return msg is None or self.link.publish(msg[0], msg[1], True)

    def _send_reading(self, js):
        # Resume where an outage interrupted this reading: nothing twice as new.
        link = self.link
        if self._progress == 0:
            if not link.publish(self.base + b"/reading", js):
                return False
            self._progress = 1
        k = 0
        for name, value in json_fields(js):
            k += 1
            if k < self._progress:
                continue
            retain = name.endswith(b"_total")  # energy registers: HA gets them after a restart
            if not link.publish(self._prefix + name, value, retain):
                return False
            self._progress = k + 1
        self._progress = 0
        return True

    def _log(self, level, msg, *args):
        if self.log:
            self.log(level, msg, *args)
