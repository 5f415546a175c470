# publisher.py: readings to MQTT topics (DESIGN.md section 5).
# MIT license; Copyright (c) 2026 hanmq
#
#   <base>/status          retained "online" (the link's last will says "offline")
#   <base>/reading         one JSON object per frame
#   <base>/<field>         one plain value per field, retained
#   <base>/diagnostics     counters as JSON, and one retained topic per counter
#   <base>/raw             hex of the whole frame, 7E to 7E (optional)
#   <base>/<name>          states the dongle derives (publish_state), retained
#   <prefix>/sensor/...    Home Assistant discovery, retained (ha.py)
#
# The plain values Home Assistant reads are retained, so that it has a state the moment
# it subscribes. It subscribes to a sensor's topic only once the sensor's config has
# reached it, some milliseconds after the config went out: a state sent right behind the
# config (a new sensor's first value, the first diagnostics) was lost, and the sensor
# stayed "unknown" until the next one (60 s for diagnostics, an hour for an Aidon's
# clock and the energies). Re-sending the latest states after the discovery burst would
# need them kept in RAM and would still race the subscription; a retained message is
# handed over by the broker whenever the subscription comes, after a Home Assistant
# restart too. A stale retained value is harmless: the status topic's retained
# "offline" marks every sensor unavailable, and power and the like expire (ha.py
# _EXPIRE_S). The JSON reading and the raw frame are streams, not states: not retained.
#
# Discovery: the diagnostics belong to the dongle's device and are announced at every
# connect (and when Home Assistant restarts); the meter's sensors wait until the meter
# has said what it is (a list 2 or 3: maker, model, id), so they are announced once,
# with the device block they keep, rather than once per piece of it learned.
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

_DIAGNOSTICS = 11  # words in ha.DIAGNOSTICS: ha is loaded only while announcing
_EXTRAS = 10  # words in ha.EXTRAS: the live energy registers, the capacity sensors

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
        self._seen = bytearray(fields.COUNT)  # fields the meter has sent
        self._dec = bytearray(fields.COUNT)  # decimals of each field's values, most seen
        self._device = (None, None, None)  # manufacturer, model, serial
        self._meter_ready = False  # the meter has said what it is: announce its sensors
        self._progress = 0  # messages of the outbox head already sent
        # Discovery messages still to send: -1 - i for diagnostic i, field ids, then
        # fields.COUNT + j for word j of ha.EXTRAS (ha.Discovery.config).
        self._announce = []
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
        dec = self._dec
        if has[fields.METER_ID] and rd.text[fields.METER_ID] != self._device[2]:
            self._last_wh = {}  # another meter (a replacement): its registers start anew
            for fid in range(fields.COUNT):
                dec[fid] = 0  # and its own number of decimals
        for fid in range(fields.COUNT):
            if not has[fid]:
                continue
            kind = kinds[fid]
            if kind >= fields.K_W:
                # Display precision from what the meter sends: e.g. whole volts -> 0,
                # Kaifa's milliamperes -> 3, Aidon's 10 Wh registers -> 2 (in kWh).
                e = rd.e[fid]
                if kind in _ENERGY_KINDS:
                    e -= 3
                if -e > dec[fid]:
                    dec[fid] = -e
                    if self._seen[fid] and self._meter_ready:
                        self._queue(fid)  # announced with fewer: again (once per rise)
            if kind in _ENERGY_KINDS:
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
                if self._meter_ready and kind != fields.K_TEXT:
                    self._queue(fid)
                    if fid == fields.ACTIVE_POWER_IMPORT_TOTAL:
                        for j in range(_EXTRAS):  # the live registers and capacity with it
                            self._queue(fields.COUNT + j)
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
        # Ready once the model is known, or a list that would name it has come: a list
        # 1 carries no more than the maker (Kaifa) or nothing (Aidon), and a device
        # renamed a few seconds later would leave entity ids of both names behind.
        ready = self._meter_ready or rd.list_no >= 2 or dev[1] is not None
        if dev != self._device or ready != self._meter_ready:
            self._device = dev
            self._meter_ready = ready
            if ready:  # the meter's device block changed: every meter sensor carries it
                for item in self._meter_items():
                    self._queue(item)

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
        """Every config again: the dongle's first (the meter's device names it as
        via_device), then the meter's once it is known."""
        if self.discovery is None:
            return
        self._announce = [-1 - i for i in range(_DIAGNOSTICS)]
        if self._meter_ready:
            self._announce += self._meter_items()

    def _meter_items(self):
        seen = self._seen
        kinds = fields.KINDS
        items = [fid for fid in range(fields.COUNT) if seen[fid] and kinds[fid] != fields.K_TEXT]
        if seen[fields.ACTIVE_POWER_IMPORT_TOTAL]:
            items += [fields.COUNT + j for j in range(_EXTRAS)]
        return items

    def _queue(self, item):
        if self.discovery is not None and item not in self._announce:
            self._announce.append(item)

    # -- the loop ----------------------------------------------------------------

    #: True while a status-page visit is served: the announcing (ha.py loaded, a few KB)
    #: waits, and is unloaded, so the visit has its room; readings still go out.
    hold = False

    def hold_discovery(self, on):
        self.hold = on
        if on:
            self._unload_discovery()

    def pending(self):
        """Messages still to send: readings and discovery."""
        return len(self.outbox) + len(self._announce)

    def publish_state(self, name, payload):
        """A retained state the dongle derives (live energy, capacity: DESIGN.md section
        5) on <base>/<name>, now; False when the link is down (the caller keeps it)."""
        if not self.link.connected():
            return False
        try:
            return self.link.publish(self._prefix + name, payload, True)
        except MemoryError:
            gc.collect()
            return False

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
        if self._announce and self.discovery is not None and not self.hold:
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
                link.publish(self._prefix + name, value, True)  # retained: see the top
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
        msg = d.config(item, self._device, self._dec[item] if 0 <= item < fields.COUNT else 0)
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
            # retained: Home Assistant gets each state when it subscribes (see the top)
            if not link.publish(self._prefix + name, value, True):
                return False
            self._progress = k + 1
        self._progress = 0
        return True

    def _log(self, level, msg, *args):
        if self.log:
            self.log(level, msg, *args)
