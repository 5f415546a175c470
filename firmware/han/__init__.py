# han: the pure HAN decoder (HDLC framer, DLMS/A-XDR walker, vendor profiles).
# MIT license; Copyright (c) 2026 hanmq
#
# Nothing here imports machine, network, socket or time: bytes in, readings out.
