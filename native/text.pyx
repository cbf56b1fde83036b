# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Native core of engine.text: ``td_text`` and ``markdown`` (engine/text/_pytext.py is the
pure-Python twin, the reference reading of the same rules; engine/text/__init__.py states
them).  Output is identical to the twin's byte for byte.

The C lives in native/textcore.pxi, which native/render.pyx includes too; this module is
its Python face.  Python objects are made only for what is returned (the Markdown string;
td_text's slices and dicts) and for the rare entity arguments that need ``str()``/``int()``.
"""

include "textcore.pxi"

IMPLEMENTATION = "native"

# ---------------------------------------------------------------- td_text

def td_text(text, entities):
    """Telegram Desktop's ``(text, text_entities)`` pair for result.json.

    See ``engine.text`` for the contract.
    """
    text = check_text(text)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text), i, cursor = 0
    if n == 0:
        return "", []
    cdef Ent stack_ents[STACK_ENTS]
    cdef Ents ev
    ev.a = stack_ents
    ev.n = 0
    ev.cap = STACK_ENTS
    ev.heap = False
    cdef list keep = []
    cdef list parts = []
    cdef list value = []
    cdef dict d
    cdef object s, arg
    cdef Ent *x
    cdef int kind
    try:
        normalize(&ev, text, entities, keep)
        if ev.n > 1:
            qsort(ev.a, ev.n, sizeof(Ent), cmp_start)
        for i in range(ev.n):
            x = &ev.a[i]
            if x.s < cursor:
                continue
            if x.s > cursor:
                s = PyUnicode_Substring(text, cursor, x.s)
                parts.append({"type": "plain", "text": s})
                value.append(s)
            kind = x.kind
            d = {"type": TD_NAMES[kind], "text": PyUnicode_Substring(text, x.s, x.e)}
            if kind == K_PRE or kind == K_TEXT_URL or kind == K_MENTION_NAME \
                    or kind == K_CUSTOM_EMOJI or kind == K_BLOCKQUOTE:
                arg = <object>x.arg if x.arg != NULL else None
                if kind == K_PRE:
                    d["language"] = str(arg) if isinstance(arg, str) else ""
                elif kind == K_TEXT_URL:
                    d["href"] = str(arg) if isinstance(arg, str) else ""
                elif kind == K_MENTION_NAME:
                    d["user_id"] = int(arg) if isinstance(arg, int) else 0
                elif kind == K_CUSTOM_EMOJI:
                    d["document_id"] = (str(int(arg)) if isinstance(arg, int)
                                        else str(arg) if isinstance(arg, str) else "")
                else:
                    d["collapsed"] = isinstance(arg, int) and int(arg) != 0
            parts.append(d)
            value.append(d)
            cursor = x.e
        if cursor < n:
            s = PyUnicode_Substring(text, cursor, n)
            parts.append({"type": "plain", "text": s})
            value.append(s)
    finally:
        if ev.heap:
            free(ev.a)
    if len(parts) == 1 and (<dict>parts[0])["type"] == "plain":
        return text, parts
    return value, parts


def markdown(text, entities):
    """The text with its entities as Obsidian-flavoured Markdown.

    See ``engine.text`` for the contract and the syntax.
    """
    text = check_text(text)
    if PyUnicode_GET_LENGTH(text) == 0:
        return ""
    cdef U4 obuf[STACK_UCS4]
    cdef Ent stack_ents[STACK_ENTS]
    cdef Ents ev
    cdef Buf out
    cdef list keep = []
    ev.a = stack_ents
    ev.n = 0
    ev.cap = STACK_ENTS
    ev.heap = False
    out.p = obuf
    out.n = 0
    out.cap = STACK_UCS4
    out.heap = False
    try:
        normalize(&ev, text, entities, keep)
        md_append(&out, text, &ev, keep)
        return PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, out.p, out.n)
    finally:
        if ev.heap:
            free(ev.a)
        if out.heap:
            free(out.p)
