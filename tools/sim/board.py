# board.py (host): the simulated board. DO NOT UPLOAD THIS FILE TO YOUR DEVICE.
NAME = "simulated"
ARCH = "x64"
UART_ID = 0
RX_PIN = None
INVERT_RX = False
LED_PIN = None
LED_ACTIVE_LOW = False
BUTTON_PIN = None
LOOPBACK_TX_PIN = None
