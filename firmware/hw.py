# hw.py: the hardware seam: UART, Wi-Fi, LED, button, watchdog, chip id.
# MIT license; Copyright (c) 2026 hanmq
#
# The only firmware module that touches machine and network. Host runs put their
# own hw.py (tools/sim/hw.py) ahead of this one on the module path. Pins come from
# board.py, which the deploy copies from boards/<name>.py.

import gc

import board
import machine
import network

#: Bytes the UART driver buffers: 18 s of meter data at 2400 baud, so no frame is
#: lost while the dongle reconnects (DESIGN.md 8: rxbuf >= 4 KB).
RXBUF = 4096


#: Heap the hardware seam holds beyond a board's own (the simulated board's tools/sim
#: seam sets it to what bench/seam.py measured; the simulator adds as much heap).
SEAM_EXTRA = 0

def uart(parity, loopback=False):
    """The meter's UART at 2400 baud: parity 0 (8E1: Aidon, Kaifa, L+G) or None
    (8N1: Kamstrup). Reads never block. tx=-1: no TX pin at all (MicroPython 1.29;
    otherwise the UART's default TX pin, GPIO17 or GPIO10, would be driven). Each call
    empties the receive buffer (MicroPython 1.27 and later). loopback (the self-test,
    tools/selftest.py, only): TX on board.LOOPBACK_TX_PIN, wired to the RX pin, and
    inverted as RX is, so what write() sends comes back."""
    kw = {}
    if board.INVERT_RX:
        kw["invert"] = machine.UART.INV_RX | (machine.UART.INV_TX if loopback else 0)
    return machine.UART(
        board.UART_ID, baudrate=2400, bits=8, parity=parity, stop=1, rx=board.RX_PIN,
        tx=board.LOOPBACK_TX_PIN if loopback else -1, rxbuf=RXBUF, timeout=0, **kw
    )


def uart_closed(u):
    return False  # a real UART never ends


def station():
    sta = network.WLAN(network.WLAN.IF_STA)
    sta.active(True)
    return sta


def access_point():
    return network.WLAN(network.WLAN.IF_AP)


def ap_open(essid):
    """Start the open setup access point; returns its address (192.168.4.1)."""
    ap = access_point()
    ap.active(True)
    ap.config(essid=essid, authmode=network.AUTH_OPEN)
    return ap.ifconfig()[0]


def ap_close():
    access_point().active(False)


def portal_ports():
    """(HTTP, DNS) ports of the setup portal, on the access point's address."""
    return 80, 53


def status_addr():
    """(address, port) of the status page in normal operation: every interface."""
    return "0.0.0.0", 80


_led = None


def led(on):
    global _led
    if board.LED_PIN is None:
        return
    if _led is None:
        _led = machine.Pin(board.LED_PIN, machine.Pin.OUT)
    _led.value(bool(on) != board.LED_ACTIVE_LOW)


_button = None


def button():
    """True while the setup button is pressed. It is the chip's BOOT button, a strapping
    pin: held at reset the chip starts its ROM loader instead of the firmware, so it
    can only be read once the firmware runs (dongle.SetupButton)."""
    global _button
    if board.BUTTON_PIN is None:
        return False
    if _button is None:
        _button = machine.Pin(board.BUTTON_PIN, machine.Pin.IN, machine.Pin.PULL_UP)
    return _button.value() == 0


def hostname(name):
    """The name the router's DHCP list shows (else every board is "mpy-esp32")."""
    network.hostname(name)


def unique_id():
    return machine.unique_id()


def watchdog(timeout_ms):
    return machine.WDT(timeout=timeout_ms)


def keep_fed(wdt):
    """After Ctrl-C the loop no longer feeds the watchdog; a timer does, so a session at
    the REPL is not cut short by a reset. (A soft reset stops the timer: then the
    watchdog resets the board within a minute, which restarts the firmware.)"""
    t = machine.Timer(0)
    t.init(period=10000, mode=machine.Timer.PERIODIC, callback=lambda _: wdt.feed())


def reset():
    machine.reset()


def free_heap():
    return gc.mem_free()


def heap_info():
    """The ESP-IDF data heap, per region: (total, free, largest free block, minimum
    free ever), bytes (the self-test reports it)."""
    import esp32

    return esp32.idf_heap_info(esp32.HEAP_DATA)
