# esp32_devkit.py: a generic ESP32 DevKit (ESP32-WROOM-32, 38 pins).
# MIT license; Copyright (c) 2026 hanmq
#
# Meter on UART2, RX on GPIO16 (the pin labelled RX2). The converter's TX (TSS721 pin 8,
# not inverted) goes to GPIO16; converter GND to GND. UART0 stays the USB console.

NAME = "esp32_devkit"
ARCH = "xtensawin"  # mpy-cross -march
FIRMWARE = "ESP32_GENERIC"  # MicroPython board name on the download site
UART_ID = 2
RX_PIN = 16
INVERT_RX = False  # True for converters that invert (some optocoupler modules)
LED_PIN = 2  # blue on-board LED
LED_ACTIVE_LOW = False
BUTTON_PIN = 0  # BOOT button, low when pressed: hold at power-up for setup mode
# Self-test only (make selftest): a wire from this pin to RX_PIN loops the UART back.
# GPIO17 is the pin labelled TX2, next to RX2: UART2's own default TX pin, not a
# strapping pin (0, 2, 5, 12, 15), not flash (6-11), not the USB-serial chip's UART0
# (1, 3), not the LED or the button. (ESP32-WROVER modules use GPIO16/17 for PSRAM:
# this board file is for the WROOM-32, which does not.) Normal operation drives no TX.
LOOPBACK_TX_PIN = 17
