"""Errors raised by the ring transport (shared by the native core and its twin)."""

import queue


class RingError(Exception):
    """Base class of every transport error.

    ``sent`` tells a producer how many records of the failed ``put_many`` call
    were published before the error, so the caller knows exactly what to re-send.
    """

    def __init__(self, message: str = "", *, sent: int = 0, index: int | None = None):
        super().__init__(message)
        self.sent = sent
        self.index = index


class RecordTooLarge(RingError, ValueError):
    """A record can never fit in the ring (larger than ``Ring.max_record``)."""


class Closed(RingError, EOFError):
    """The other side closed the ring: end of stream for a consumer (after every
    record already published was delivered), a dead end for a producer."""


class PeerDied(RingError):
    """The process on the other side of the ring died without closing it."""


class Full(RingError, queue.Full):
    """``put`` timed out: the ring stayed too full."""


class Empty(RingError, queue.Empty):
    """``get`` timed out: the ring stayed empty."""
