# outbox.py: readings waiting for the broker, bounded in bytes.
# MIT license; Copyright (c) 2026 hanmq
#
# Hourly readings (list 3, with the energy registers) are kept in order and delivered
# oldest first after an outage; when the byte budget is spent the oldest is dropped
# and counted. An instantaneous reading (list 1 or 2) only matters until the next one
# arrives: there is one slot for it, and a newer reading replaces it.


class Outbox:
    def __init__(self, budget=12288):
        self.budget = budget  #: bytes of hourly readings kept during an outage
        self._keep = []
        self._bytes = 0
        self._latest = None
        self.dropped = 0

    def __len__(self):
        return len(self._keep) + (self._latest is not None)

    def put(self, payload, keep):
        if not keep:
            self._latest = payload
            return
        # An hourly reading carries every instantaneous value too, so it supersedes
        # the waiting one; what stays in the slot is then always the newest.
        self._latest = None
        self._keep.append(payload)
        self._bytes += len(payload)
        while self._bytes > self.budget and len(self._keep) > 1:
            self.shed()

    def shed(self):
        """Drop the oldest waiting reading to free memory."""
        if self._keep:
            self._bytes -= len(self._keep.pop(0))
            self.dropped += 1
        elif self._latest is not None:
            self._latest = None

    def peek(self):
        """The next reading to send, oldest hourly reading first; None when empty."""
        return self._keep[0] if self._keep else self._latest

    def pop(self):
        if self._keep:
            self._bytes -= len(self._keep.pop(0))
        else:
            self._latest = None
