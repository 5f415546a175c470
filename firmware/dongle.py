# dongle.py: normal operation: meter UART -> decoder -> publisher -> MQTT, with Wi-Fi,
# status LED, diagnostics and the status page. Loaded only when the settings are
# valid (setup mode does not need it).
# MIT license; Copyright (c) 2026 hanmq

import gc
import time

import hw

VERSION = "0.1.0"

#: The watchdog is fed while the UART has been silent less than this long (a wedged
#: driver); a meter pushes at least every 10 s.
SILENT_MS = 600000


def free_heap():
    gc.collect()  # the live heap, not what the collector has yet to find
    return hw.free_heap()


def node_name():
    uid = hw.unique_id()
    return "hanmq_" + "".join("%02x" % b for b in uid)


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
        self.started = time.ticks_ms()
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
            disc = (cfg["ha_prefix"], node, base, VERSION)  # ha.py loads while announcing
        # Hourly readings kept through an outage: a third of the heap left now, at most
        # 12 KB (about 20 hours of 3-phase list 3).
        gc.collect()
        budget = max(2048, min(12288, gc.mem_free() // 3))
        self.pub = Publisher(self.link, base, disc, cfg["raw_frames"], budget, log=log)
        self.link.on_connect = self.pub.on_connect
        if disc is not None:
            self.link.subscribe((cfg["ha_prefix"] + "/status").encode(), self.pub.on_ha_status)
        self.decoder = decoder
        decoder.on_reading = self._on_reading
        decoder.on_error = self._on_bad_frame
        self.meter = MeterUART(self.decoder, cfg["meter"], log)
        self.status = None  # the status page (DESIGN.md 7), where the board serves one
        if hw.status_addr():
            from status import open_page

            self.status = open_page(self, log, config_path, VERSION)  # None: no room
        self._led = False
        self._last_bytes = self.started
        self._last_diag = None
        self._diag_ms = cfg["diagnostics_s"] * 1000
        log("I", "hanmq %s node %s, publishing to %s:%d under %s", VERSION, node,
            cfg["mqtt_host"], cfg["mqtt_port"], base)

    def _on_reading(self, rd):
        self.pub.on_reading(rd, self.decoder.frame)  # never raises MemoryError
        if self.status is not None:
            self.status.on_reading(rd)
        self._led = not self._led
        hw.led(self._led)

    def _on_bad_frame(self, reason, offset):
        self.log("D", "frame at byte %d: %s", offset, reason)

    def diagnostics(self, now):
        d = self.decoder
        return (
            '{"frames_good": %d, "frames_bad_crc": %d, "frames_bad_length": %d, '
            '"frames_unknown": %d, "uptime": %d, "free_heap": %d, "rssi": %d, '
            '"reconnects": %d, "outbox_dropped": %d, "energy_rejected": %d}'
            % (
                d.good, d.bad_crc, d.bad_length, d.unknown,
                time.ticks_diff(now, self.started) // 1000, free_heap(), self.wifi.rssi(),
                self.link.reconnects, self.pub.outbox.dropped, self.pub.energy_rejected,
            )
        ).encode()

    def step(self, now):
        """One turn of the loop; returns True while there is work (host runs end
        when the replayed meter has finished and everything is delivered)."""
        got = self.meter.poll()
        if got:
            self._last_bytes = now
        if self.wifi.service(now):
            self.link.service(now)
        if self._last_diag is None or time.ticks_diff(now, self._last_diag) >= self._diag_ms:
            self._last_diag = now
            self.pub.set_diagnostics(self.diagnostics(now))
        self.pub.service()
        if self.status is not None:
            self.status.service(now)  # one bounded slice: never holds up the UART
        return got

    def healthy(self, now):
        return (
            time.ticks_diff(now, self._last_bytes) < SILENT_MS
            or time.ticks_diff(now, self.started) < SILENT_MS
        )

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
