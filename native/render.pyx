# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Native renderers: result.json fragments, JSONL lines, vault day notes and the day split.

One file per format, as the twins in engine/render/ are laid out:

    render_model.pxi        reading the model's Structs at their slot offsets
    render_common.pxi       small C helpers, the local clock, peers, a message's entities
    render_json.pxi         the UTF-8 JSON writer (orjson's bytes)
    render_td_text.pxi      result.json's "text" and "text_entities" (twin: engine.text.td_text)
    render_result_json.pxi  result.json fragments       (twin: result_json.py)
    render_markdown.pxi     the UCS4 Markdown writer and a message's media lines
    render_day_notes.pxi    day notes and the day split  (twin: day_notes.py)
    render_jsonl.pxi        messages.jsonl lines         (twin: messages_jsonl.py)

Every function here produces the twin's output byte for byte, and tests/test_render.py and
tests/test_render_md.py prove it on the corpus and on random messages. This module never
imports a twin: engine/render/renderer.py (the façade) hands it plain parts -- the
context's chat, peers, files and clock, and the strings the twin writes for rare shapes (a
service message's action keys and line, a note's front matter) -- and gets back ``None``
for whatever is not covered here (inline buttons, a field of an unexpected type or an int
past 62 bits), which the façade then has the twin render. The text itself goes through the
native text core (native/textcore.pxi), the same C as engine._native.text; JSONL is
msgspec's encoder with the glue in C.
"""

include "textcore.pxi"

import datetime as _dt

import orjson

from engine import model as _model

from cpython.bytes cimport (PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize,
                           PyBytes_GET_SIZE)
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_CheckExact
from cpython.long cimport PyLong_CheckExact
from cpython.list cimport PyList_CheckExact, PyList_GET_SIZE
from cpython.dict cimport PyDict_CheckExact, PyDict_GetItem
from cpython.unicode cimport PyUnicode_CheckExact
from libc.math cimport isfinite
from libc.string cimport strlen

cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        const char *name
        int type
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member
    char *PyOS_double_to_string(double val, char format_code, int precision, int flags,
                                int *ptype) except NULL
    void PyMem_Free(void *p)
    int Py_DTSF_ADD_DOT_0
    bint PyUnicode_IS_ASCII(object u)
    PyObject *Py_None
    Py_ssize_t PyDict_GET_SIZE(object o)

IMPLEMENTATION = "native"

include "render_model.pxi"
include "render_common.pxi"
include "render_json.pxi"
include "render_td_text.pxi"
include "render_result_json.pxi"
include "render_td_media.pxi"
include "render_markdown.pxi"
include "render_day_notes.pxi"
include "render_day_api.pxi"
include "render_jsonl.pxi"
