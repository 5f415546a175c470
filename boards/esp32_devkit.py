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
