# socket.py (host): the simulated board's network stack, over MicroPython's socket.
# DO NOT UPLOAD THIS FILE TO YOUR MICROPYTHON DEVICE. Found first on MICROPYPATH, so
# `import socket` in the firmware gets this (socket is an extensible built-in).
#
# What the board's stack does that the host's does not (DESIGN.md 9):
# - a name lookup blocks: with the DNS server dead (tools/simboard.py, "dns dead"),
#   getaddrinfo() of a name waits 3 x 7 s of board time, then fails, as lwIP does
#   with three servers that do not answer;
# - every TCP path between the board and the world goes through the simulated radio
#   (tools/simboard.py, Air), which can drop while connections stay open and loses
#   what is still queued when the board resets. HANMQ_PORT_MAP ("host:port=port,...")
#   sends the broker's address (as configured, a name or not) to its Air, and a
#   server's own address (the setup and status pages) to the port it really listens
#   on, behind its Air.

import sys

_p = sys.path
sys.path = ()
try:
    import socket as _s  # the built-in
finally:
    sys.path = _p
del _p


def __getattr__(name):
    return getattr(_s, name)  # what this module does not change: the built-in's

#: Board ms one lookup blocks with a dead DNS server: 3 servers x 7 s (lwIP's retries).
DEAD_DNS_MS = 21000

_map = None


def _load_map():
    global _map
    import os

    _map = {}
    for item in (os.getenv("HANMQ_PORT_MAP") or "").split(","):
        where, _, port = item.rpartition("=")
        if port:
            _map[where] = int(port)


def _name(host):
    for c in host:
        if not ("0" <= c <= "9" or c == "."):
            return True
    return False


def getaddrinfo(host, port, *args):
    if _map is None:
        _load_map()
    if _name(host) and host != "localhost":
        import hw

        if hw.dns_dead():
            import time

            time.real_sleep(DEAD_DNS_MS)  # (the lookup may run in a thread of its own)
            raise OSError(-202)  # lwIP's EAI_FAIL, as the ESP32 port reports it
    if _map:
        p = _map.get("%s:%d" % (host, port))
        if p:
            host, port = "127.0.0.1", p
    return _s.getaddrinfo(host, port, *args)
