"""Byte layout of a ring segment, shared by native/ring_core.h and _pyring.py.

Every header field is a 64-bit slot; the four hot ones (head, tail and the two
eventcounts) sit on cache lines of their own.  Futex words are the low 32 bits of
their slot.  See docs/transport.md.
"""

MAGIC = int.from_bytes(b"TGARING1", "little")

MAGIC_SLOT = 0
CAPACITY = 1
CREATOR_PID = 2
CREATOR_START = 3
PRODUCER_PID = 4
PRODUCER_START = 5
CONSUMER_PID = 6
CONSUMER_START = 7
HEAD = 8
TAIL = 16
PROD_CLOSED = 24
CONS_CLOSED = 25
DATA_SEQ = 32          # eventcount (seq, waiting) at slots 32, 33
SPACE_SEQ = 40         # eventcount at slots 40, 41
HEADER_BYTES = 512
REC_HDR = 8            # u32 length + u32 reserved in front of every record

BELL_BYTES = 64        # a doorbell segment: one eventcount at slots 0, 1


def footprint(n: int) -> int:
    """Bytes a record of ``n`` payload bytes occupies in the ring."""
    return REC_HDR + ((n + 7) & ~7)
