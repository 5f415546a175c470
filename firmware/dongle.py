# dongle.py: normal operation: meter UART -> decoder -> publisher -> MQTT, with Wi-Fi,
# status LED, diagnostics and the status page. Loaded only when the settings are
# valid (setup mode does not need it).
# MIT license; Copyright (c) 2026 hanmq

import gc
import sys
import time

import hw

VERSION = "0.1.0"

#: A meter pushes at least every 10 s; after this long without a byte the UART is
#: opened again (a driver that has wedged), and again each time as long. A silent
#: meter is normal for days: the HAN port is opened some days after it is ordered.
REOPEN_S = 600
#: Hourly readings kept in RAM through an outage, in bytes of JSON: about 20 hours of a
#: 3-phase list 3. A fixed budget (DESIGN.md 8: a board's gc.mem_free() says little).
OUTBOX_BYTES = 12288
#: Connected this long without the fence message (see Dongle._energy): the live values
#: go out anyway.
RESUME_MS = 30000
#: The home network not joined for this long (a mistyped password, a new router):
#: the setup access point opens, and the station keeps trying from there.
WIFI_SETUP_S = 300


def free_heap():
    gc.collect()  # the live heap, not what the collector has yet to find
    return hw.free_heap()


def node_name():
    uid = hw.unique_id()
    return "hanmq_" + "".join("%02x" % b for b in uid)


class SetupButton:
    """The way back to setup mode. The BOOT button cannot be read at power-up (held at
    reset, the chip starts its ROM loader), so: a press during the first START_MS after
    start (the LED blinks fast then), or a press held HOLD_MS at any time (the LED then
    stays lit). Setup starts once the button is let go: held through the reset, it
    would start the ROM loader."""

    #: The start-up window for a short press, and the hold that works at any time.
    START_MS = 5000
    HOLD_MS = 5000

    def __init__(self, now):
        self.started = now
        self._down = None  # ticks the press began, while it is down
        self._early = False  # that press began inside the start-up window
        self.armed = False  # a press that asks for setup; it starts on release
        self.window = True

    def service(self, now):
        """True once setup mode should start (the qualifying press was let go)."""
        if self.window and time.ticks_diff(now, self.started) >= self.START_MS:
            self.window = False
        if hw.button():
            if self._down is None:
                self._down = now
                self._early = self.window
            if self._early or time.ticks_diff(now, self._down) >= self.HOLD_MS:
                self.armed = True
            return False
        self._down = None
        return self.armed

    def led(self, now):
        """The LED's state while the button speaks, else None."""
        if self.armed:
            return True
        if self.window:
            return (time.ticks_diff(now, self.started) // 100) & 1
        return None


class Dongle:
    def __init__(self, cfg, log, decoder, config_path):
        from meter_uart import MeterUART
        from mqtt_link import MQTTLink
        from publisher import Publisher
        from wifi import WiFi

        self.log = log
        self.cfg = cfg
        node = node_name()
        self.node = node
        base = cfg["mqtt_base_topic"] or "hanmq/" + node
        now = time.ticks_ms()
        self.uptime = log.clock  # seconds since start, ticked every turn
        self.button = SetupButton(now)
        self.setup_wanted = None  # a portal.SETUP_WHY key once setup mode should start
        hw.hostname("hanmq-" + node[-4:])  # before the station starts: DHCP sends it
        self.wifi = WiFi(hw.station(), cfg["wifi_ssid"], cfg["wifi_password"], log)
        self.link = MQTTLink(
            cfg["mqtt_client_id"] or node,
            cfg["mqtt_host"],
            cfg["mqtt_port"],
            user=cfg["mqtt_user"] or None,
            password=cfg["mqtt_password"] or None,
            tls=cfg["mqtt_tls"],
            will_topic=(base + "/status").encode(),
            will_msg=b"offline",
            log=log,
        )
        disc = None
        if cfg["ha_discovery"]:
            # ha.Discovery's arguments: ha.py loads while announcing
            disc = (cfg["ha_prefix"], node, base, VERSION, cfg["board"], cfg["ha_reactive_class"],
                    cfg["capacity_model"] != "off")
        self.pub = Publisher(self.link, base, disc, cfg["raw_frames"], OUTBOX_BYTES, log=log)
        self.link.on_connect = self.pub.on_connect
        if disc is not None:
            self.link.subscribe((cfg["ha_prefix"] + "/status").encode(), self.pub.on_ha_status)
        self.energy = self._energy(cfg, base, config_path, log)
        self.decoder = decoder
        decoder.on_reading = self._on_reading
        decoder.on_error = self._on_bad_frame
        self.meter = MeterUART(self.decoder, cfg["meter"], log)
        # The status page (DESIGN.md 7): a listening socket between visits; status.py
        # is loaded while one is served. What the page shows is counted here.
        from status import listen

        self._page_sock, self._page_poll = listen(log)
        del sys.modules["status"]
        self.visit = None
        self.capacity_text = None  # the latest capacity figures, for the status page
        self.config_path = config_path
        self.readings = 0
        self.read_s = None  # uptime seconds of the latest reading
        self.read_unknown = 0  # frames not understood, as of the latest reading
        self._led = False
        self._bytes_s = 0  # uptime seconds of the meter's last byte (or of the start)
        self._reopen_s = 0  # ... and of the last time the UART was opened again
        self._joined_s = 0  # ... and of the last time the home network was up
        self._last_diag = None
        self._diag_ms = cfg["diagnostics_s"] * 1000
        log("I", "hanmq %s node %s, publishing to %s:%d under %s", VERSION, node,
            cfg["mqtt_host"], cfg["mqtt_port"], base)

    def _energy(self, cfg, base, config_path, log):
        """Live registers and the capacity tariff (energy.py, capacity.py). The live
        values published before a restart come back as the broker's retained messages;
        the dongle's own status topic, subscribed after them, fences them: its first
        message comes after any retained live value (one connection, in order)."""
        from energy import Energy

        cap = None
        if cfg["capacity_model"] != "off":
            path = config_path[: config_path.rfind("/") + 1] + "capacity.json"
            cap = (cfg["capacity_model"], cfg["capacity_steps_kw"], path)
        energy = Energy(cap, log)
        prefix = base.encode() + b"/"
        for reg in energy.regs:
            self.link.subscribe(prefix + reg.name, energy.on_retained)
        self.link.subscribe(prefix + b"status", self._on_own_status)
        self._connected_ms = None
        return energy

    def _on_own_status(self, topic, msg):
        self.energy.resumed = True

    def _publish_energy(self, now):
        e = self.energy
        if not e.resumed and self.link.connected():
            if self._connected_ms is None:
                self._connected_ms = now
            elif time.ticks_diff(now, self._connected_ms) >= RESUME_MS:
                e.resumed = True  # no echo (a broker that refuses the subscription)
        e.busy = self.visit is not None
        if not self.link.connected():
            self._connected_ms = None
            e.settle()
            return
        from energy import kwh_text

        live = e.live(now)
        if live:
            for reg, wh in live:
                if self.pub.publish_state(reg.name, kwh_text(wh).encode()):
                    e.published(reg, wh)
        js = e.capacity_json(now)
        if js is not None:
            self.pub.publish_state(b"capacity", js.encode())
            self.capacity_text = js

    def _on_reading(self, rd):
        self.energy.on_reading(rd, time.ticks_ms())  # a repeated hour becomes a list 2
        self.pub.on_reading(rd, self.decoder.frame)  # never raises MemoryError
        self.readings += 1
        self.read_s = self.uptime.s
        self.read_unknown = self.decoder.unknown  # the page shows this reading while no
        # frame has failed since (a failed frame leaves the reading slots cleared)
        self._led = not self._led

    def _on_bad_frame(self, reason, offset):
        self.log("D", "frame at byte %d: %s", offset, reason)

    def diagnostics(self, now):
        d = self.decoder
        return (
            '{"frames_good": %d, "frames_bad_crc": %d, "frames_bad_length": %d, '
            '"frames_unknown": %d, "uptime": %d, "free_heap": %d, "rssi": %d, '
            '"reconnects": %d, "outbox_dropped": %d, "energy_rejected": %d, '
            '"meter_silent_s": %d}'
            % (
                d.good, d.bad_crc, d.bad_length, d.unknown,
                self.uptime.s, free_heap(), self.wifi.rssi(),
                self.link.reconnects, self.pub.outbox.dropped, self.pub.energy_rejected,
                self.meter_silent_s(),
            )
        ).encode()

    def meter_silent_s(self):
        """Seconds since the meter's last byte (since the start, before the first)."""
        return self.uptime.s - self._bytes_s

    def step(self, now):
        """One turn of the loop; returns True while there is work (host runs end
        when the replayed meter has finished and everything is delivered)."""
        up = self.uptime.tick(now)
        joined = self.wifi.service(now)
        if joined:
            self._joined_s = up
        elif self.link.connected():
            self.link.drop("Wi-Fi lost")  # before a reading goes into a dead connection
        elif up - self._joined_s >= WIFI_SETUP_S:
            self.log("W", "Wi-Fi: %s not joined for %d s: setup access point", self.wifi.ssid,
                     up - self._joined_s)
            self.setup_wanted = "wifi"
        got = self.meter.poll()
        if got:
            self._bytes_s = self._reopen_s = up
        elif up - self._reopen_s >= REOPEN_S:
            self._reopen_s = up
            self.meter.reopen()
            self.log("I" if self.meter.reopens == 1 else "D",
                     "meter: nothing for %d s: UART opened again", up - self._bytes_s)
        if self.button.service(now):
            self.setup_wanted = "ap"
        led = self.button.led(now)
        hw.led(self._led if led is None else led)
        if joined:
            self.link.service(now)
        if self._last_diag is None or time.ticks_diff(now, self._last_diag) >= self._diag_ms:
            self._last_diag = now
            self.pub.set_diagnostics(self.diagnostics(now))
        self.pub.service()
        self._publish_energy(now)
        self._page(now)
        return got

    def _page(self, now):
        """The status page: one bounded slice of a visit (never holds up the UART), or
        a look whether one begins."""
        if self.visit is not None:
            if not self.visit.service(now):
                self.visit = None
                import status

                status.unload()
                self.pub.hold_discovery(False)
            return
        if self._page_poll is not None:
            for _ in self._page_poll.ipoll(0):  # a client is waiting
                self.pub.hold_discovery(True)  # its room first
                import status

                self.visit = status.open_visit(self, self._page_sock, self.log,
                                               self.config_path, VERSION, now)
                if self.visit is None:
                    status.unload()
                    self.pub.hold_discovery(False)
                break

    def idle(self):
        return self.meter.closed() and not self.pub.pending()

    def finish(self):
        """The end of a host run (a board's UART never closes): everything is
        delivered, so say "offline" and disconnect cleanly. The broker forwards one
        connection's messages in order, so a client that has the "offline" has all."""
        self.pub.service()
        self.pub.goodbye()

    def summary(self):
        d = self.decoder
        gc.collect()
        return "frames read %d, good %d, bad %d, published %d; heap free %d of %d" % (
            d.good + d.bad_crc + d.bad_length, d.good, d.bad_crc + d.bad_length, self.pub.published,
            gc.mem_free(), gc.mem_free() + gc.mem_alloc(),
        )
