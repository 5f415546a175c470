# dns.py: the setup access point's catch-all DNS server.
# MIT license; Copyright (c) 2026 hanmq
#
# Every A query is answered with the dongle's own address, so whatever a phone looks
# up (its captive-portal probe first) leads to the setup page. Rules, after ESP-IDF's
# captive portal example (style.md 2.8):
#   - only queries are answered: a packet with QR=1 is a response, and answering it
#     could make two servers answer each other forever; non-zero opcodes are dropped;
#   - A (IN) gets one answer with a short TTL; AAAA and every other type get NOERROR
#     with no answer, so clients fall back to IPv4;
#   - anything malformed is dropped; the reply is built in one preallocated buffer.
# Message format: RFC 1035 4.1.

import select
import socket

from micropython import const

#: Seconds a client may keep the answer: short, so the home network's real addresses
#: come back quickly once setup is done.
TTL = const(60)
#: UDP messages are at most 512 bytes (RFC 1035 2.3.4, 4.2.1).
_MAX = const(512)
_HEADER = const(12)
_TYPE_A = const(1)
_CLASS_IN = const(1)
#: Packets handled per service() call.
SLICE = const(4)


class DNSServer:
    def __init__(self, ip, port=53):
        self.ip = bytes(int(x) for x in ip.split("."))
        self.out = bytearray(_MAX)
        self.answered = 0
        self.dropped = 0
        s = self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(socket.getaddrinfo(ip, port)[0][-1])
        s.setblocking(False)
        self._poll = select.poll()
        self._poll.register(s, select.POLLIN)

    def close(self):
        self._poll.unregister(self.sock)
        self.sock.close()

    def service(self):
        """Answer up to SLICE waiting queries; True when there were any."""
        for did in range(SLICE):
            for _ in self._poll.ipoll(0):
                break
            else:
                return did > 0  # nothing (more) waiting
            try:
                q, addr = self.sock.recvfrom(_MAX)
            except OSError:
                return True
            n = self.reply(q)
            if n:
                try:
                    self.sock.sendto(memoryview(self.out)[:n], addr)
                    self.answered += 1
                except OSError:
                    pass
            else:
                self.dropped += 1
        return True

    def reply(self, q):
        """Build the answer to query q in self.out; its length, or 0 to drop q."""
        n = len(q)
        if n < _HEADER or n > _MAX:
            return 0
        # Header (4.1.1): ID, flags QR|Opcode(4)|AA|TC|RD, RA|Z(3)|RCODE(4), 4 counts.
        if q[2] & 0xF8:  # QR=1 (a response) or an opcode other than QUERY
            return 0
        if q[4] == 0 and q[5] == 0:  # QDCOUNT 0: nothing asked
            return 0
        # The first question (4.1.2): QNAME as labels up to a zero byte, QTYPE, QCLASS.
        i = _HEADER
        while True:
            if i >= n:
                return 0
            k = q[i]
            if k == 0:
                break
            if k > 63:  # a compression pointer (4.1.4) has no place here
                return 0
            i += k + 1
            if i - _HEADER > 255:  # names are at most 255 bytes (2.3.4)
                return 0
        i += 1
        if i + 4 > n:
            return 0
        qtype = q[i] << 8 | q[i + 1]
        qclass = q[i + 2] << 8 | q[i + 3]
        i += 4
        out = self.out
        out[0:i] = memoryview(q)[0:i]  # ID and the question as asked
        out[2] = 0x84 | (q[2] & 0x01)  # QR, AA, RD copied
        out[3] = 0x80  # RA, RCODE 0 (NOERROR)
        out[4], out[5] = 0, 1  # one question
        answer = qtype == _TYPE_A and qclass == _CLASS_IN
        out[6] = 0
        out[7] = 1 if answer else 0  # ANCOUNT
        for j in range(8, 12):  # NSCOUNT, ARCOUNT
            out[j] = 0
        if answer:
            # RR (4.1.3): NAME as a pointer to offset 12 (4.1.4), TYPE A, CLASS IN,
            # TTL (32 bits), RDLENGTH 4, RDATA: our IPv4 address.
            out[i : i + 12] = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x00\x00\x04"
            out[i + 8] = TTL >> 8
            out[i + 9] = TTL & 0xFF
            out[i + 12 : i + 16] = self.ip
            i += 16
        return i
