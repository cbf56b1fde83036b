# The native text core, shared by native/text.pyx (engine._native.text: td_text, markdown)
# and native/render.pyx (engine._native.render: whole result.json fragments and vault
# notes), each of which includes it.  engine/text/_pytext.py is the pure-Python twin, the
# reference reading of the same rules; engine/text/__init__.py states them.
#
# All per-character work runs in C over a UCS4 view of the text and writes into a UCS4
# buffer (on the stack for ordinary messages); Python objects are made only for what is
# returned and for the rare entity arguments that need ``str()``/``int()``.

from cpython.object cimport PyObject
from cpython.long cimport PyLong_Check
from cpython.tuple cimport PyTuple_Check
from cpython.list cimport PyList_Check
from cpython.unicode cimport PyUnicode_Check
from libc.stdlib cimport malloc, realloc, free, qsort
from libc.string cimport memcpy, memmove

from engine.model import kinds as _kinds

cdef extern from "Python.h":
    # Py_UCS4 under another name: Cython treats its own Py_UCS4 as a character and turns
    # arithmetic on it into Python str operations; this one stays a plain C integer.
    ctypedef unsigned int U4 "Py_UCS4"
    U4 *PyUnicode_AsUCS4(object u, U4 *buf, Py_ssize_t buflen, int copy_null) except NULL
    object PyUnicode_FromKindAndData(int kind, const void *buf, Py_ssize_t size)
    object PyUnicode_Substring(object u, Py_ssize_t start, Py_ssize_t end)
    int PyUnicode_KIND(object u)
    void *PyUnicode_DATA(object u)
    Py_ssize_t PyUnicode_GET_LENGTH(object u)
    U4 PyUnicode_READ(int kind, void *data, Py_ssize_t i)
    int PyUnicode_4BYTE_KIND
    bint Py_UNICODE_ISALNUM(U4 ch)
    bint Py_UNICODE_ISSPACE(U4 ch)
    long long PyLong_AsLongLongAndOverflow(object o, int *overflow) except? -1
    object PySequence_Fast(object o, const char *msg)
    Py_ssize_t PySequence_Fast_GET_SIZE(object o)
    PyObject **PySequence_Fast_ITEMS(object o)
    Py_ssize_t Py_SIZE(object o)
    PyObject *PyTuple_GET_ITEM(object t, Py_ssize_t i)
    PyObject *PyList_GET_ITEM(object t, Py_ssize_t i)

# Kind codes: the C below compares against these; checked against engine.model.kinds at import.
cdef enum:
    K_UNKNOWN = 0
    K_MENTION = 1
    K_URL = 4
    K_EMAIL = 5
    K_BOLD = 6
    K_ITALIC = 7
    K_CODE = 8
    K_PRE = 9
    K_TEXT_URL = 10
    K_MENTION_NAME = 11
    K_UNDERLINE = 14
    K_STRIKE = 15
    K_BLOCKQUOTE = 16
    K_SPOILER = 18
    K_CUSTOM_EMOJI = 19
    K_COUNT = 20

for _name, _code in (("UNKNOWN", K_UNKNOWN), ("MENTION", K_MENTION), ("URL", K_URL),
                     ("EMAIL", K_EMAIL), ("BOLD", K_BOLD), ("ITALIC", K_ITALIC),
                     ("CODE", K_CODE), ("PRE", K_PRE), ("TEXT_URL", K_TEXT_URL),
                     ("MENTION_NAME", K_MENTION_NAME), ("UNDERLINE", K_UNDERLINE),
                     ("STRIKE", K_STRIKE), ("BLOCKQUOTE", K_BLOCKQUOTE),
                     ("SPOILER", K_SPOILER), ("CUSTOM_EMOJI", K_CUSTOM_EMOJI),
                     ("COUNT", K_COUNT)):
    if getattr(_kinds, _name) != _code:
        raise ImportError(f"engine._native.text was built for another kinds.py ({_name})")

cdef tuple TD_NAMES = tuple(_kinds.TD_NAMES)
cdef const char *HEX = b"0123456789ABCDEF"
cdef long long SAT = 1LL << 62
cdef enum:
    STACK_UCS4 = 4096       # texts and outputs up to this size never touch the heap
    STACK_ENTS = 64
    MAX_DEPTH = 16          # inline nesting: one level per group, so at most 9

# The pieces, in the order they build on each other (each names its pure-Python twin):
include "text_buf.pxi"           # the output buffer and the UCS4 view of a text
include "text_entities.pxi"      # UTF-16 entities to code-point ranges
include "text_md_state.pxi"      # Markdown: tables and the writer's state
include "text_md_inline.pxi"     # Markdown: inside a paragraph
include "text_md_blocks.pxi"     # Markdown: regions, fences, quotes, paragraph trees
include "text_md_layout.pxi"     # Markdown: blocks vs inline entities; md_append
