# ---------------------------------------------------------------- messages.jsonl
#
# messages_jsonl: the msgspec JSON of the Message after '{"v":N,', without the TL bytes (raw).
# msgspec does the encoding; what is saved here is the Python glue around it (one bytearray
# per batch, one copy per line).

import msgspec as _msgspec
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.ref cimport Py_INCREF, Py_XDECREF

cdef Py_ssize_t M_RAW = slot(Message, "raw")
cdef object _encode_into = _msgspec.json.Encoder().encode_into
cdef bytes _JSONL_HEAD = b'{"v":%d' % _model.SCHEMA_VERSION    # then "," and the fields


cdef object jsonl_one(bytearray buf, object msg):
    """One line, or None when the twin must write it (not a Message)."""
    cdef Py_ssize_t h = PyBytes_GET_SIZE(_JSONL_HEAD), n
    cdef char *p
    cdef char *q
    cdef PyObject **raw
    cdef PyObject *old
    if type(msg) is not Message:
        return None
    if F(msg, M_RAW) is not None:
        # the TL bytes stay out of the line: encode a shallow copy of our own without them
        # (what the twin's msgspec.structs.replace(msg, raw=None) gives, a little cheaper)
        msg = msg.__copy__()
        if type(msg) is not Message:
            return None
        raw = <PyObject **>((<char *><PyObject *>msg) + M_RAW)
        old = raw[0]
        Py_INCREF(None)
        raw[0] = Py_None
        Py_XDECREF(old)
    _encode_into(msg, buf, h)           # '{"v":N' + '{"id":...}'
    n = PyByteArray_GET_SIZE(buf)
    p = PyByteArray_AS_STRING(buf)
    if n <= h or p[h] != 123:
        return None
    out = PyBytes_FromStringAndSize(NULL, n + 1)
    q = PyBytes_AS_STRING(out)
    memcpy(q, p, n)
    q[h] = 44                           # '{' -> ','
    q[n] = 10
    return out


def jsonl_line(msg):
    """messages_jsonl.jsonl_line: one message as its JSONL line (with the trailing newline),
    or None when the twin must write it."""
    return jsonl_one(bytearray(_JSONL_HEAD), msg)


def jsonl_lines(msgs):
    """messages_jsonl.jsonl_lines: [jsonl_line(msg) for msg in msgs] (None: the twin's)."""
    cdef bytearray buf = bytearray(_JSONL_HEAD)
    return [jsonl_one(buf, msg) for msg in msgs]
