# ---------------------------------------------------------------- result.json: text
#
# engine.text.td_text written straight as JSON: "text" and "text_entities" from one pass
# over the entity runs (included by render.pyx, before render_result_json.pxi).

cdef int w_run(W *w, object text, Ent *x) except -1:
    """One entity run as Telegram Desktop's {"type", "text", extra key} object."""
    cdef int kind = x.kind
    cdef object arg
    w_lit(w, b'{"type":"')
    w_lit(w, TD_NAME_C[kind])
    w_lit(w, b'","text":')
    w_slice(w, text, x.s, x.e)
    if kind == K_PRE or kind == K_TEXT_URL or kind == K_MENTION_NAME \
            or kind == K_CUSTOM_EMOJI or kind == K_BLOCKQUOTE:
        arg = <object>x.arg if x.arg != NULL else None
        if kind == K_PRE:
            w_key(w, b"language")
            w_val(w, str(arg) if isinstance(arg, str) else "")
        elif kind == K_TEXT_URL:
            w_key(w, b"href")
            w_val(w, str(arg) if isinstance(arg, str) else "")
        elif kind == K_MENTION_NAME:
            w_key(w, b"user_id")
            w_val(w, int(arg) if isinstance(arg, int) else 0)
        elif kind == K_CUSTOM_EMOJI:
            w_key(w, b"document_id")
            w_val(w, str(int(arg)) if isinstance(arg, int)
                  else str(arg) if isinstance(arg, str) else "")
        else:
            w_key(w, b"collapsed")
            w_val(w, isinstance(arg, int) and int(arg) != 0)
    return w_char(w, 125)

cdef inline int w_copy(W *w, Py_ssize_t a, Py_ssize_t b) except -1:
    """Append a copy of what was written at w.p[a:b]."""
    w_res(w, b - a)
    memcpy(w.p + w.n, w.p + a, b - a)
    w.n += b - a
    return 0

cdef int td_text_json(W *w, object text, object entities) except -1:
    ""","text":...,"text_entities":[...] -- engine.text.td_text written as JSON.

    Each run is written once, for "text"; "text_entities" copies those bytes."""
    cdef Py_ssize_t n, i, cursor = 0, nruns = 0, a, b
    cdef Ent stack_ents[STACK_ENTS]
    cdef Ents ev
    cdef Ent *x
    # runs: index into ev.a, or -1 - start of a plain run (its end is the next run's start);
    # at[i], at[i + 1]: where run i's JSON (a string or an object) went in w.p
    cdef Py_ssize_t stack_runs[2 * STACK_ENTS + 1]
    cdef Py_ssize_t stack_at[4 * STACK_ENTS + 2]
    cdef Py_ssize_t *runs = stack_runs
    cdef Py_ssize_t *at = stack_at
    if not PyUnicode_CheckExact(text):
        w.bail = True
        return 0
    n = PyUnicode_GET_LENGTH(text)
    ents_init(&ev, stack_ents)
    try:
        if model_ents(&ev, text, entities) != 1:
            w.bail = True       # (checked for an empty text too: the twin reads them anyway)
            return 0
        if n == 0:
            return w_lit(w, b',"text":"","text_entities":[]')
        if ev.n > 1:
            qsort(ev.a, ev.n, sizeof(Ent), cmp_start)
        if ev.n > STACK_ENTS:
            runs = <Py_ssize_t *>malloc((2 * ev.n + 1) * sizeof(Py_ssize_t))
            at = <Py_ssize_t *>malloc((4 * ev.n + 2) * sizeof(Py_ssize_t))
            if runs == NULL or at == NULL:
                raise MemoryError()
        # the runs: plain gaps and the entities that do not overlap an earlier one
        for i in range(ev.n):
            x = &ev.a[i]
            if x.s < cursor:
                continue
            if x.s > cursor:
                runs[nruns] = -1 - cursor
                nruns += 1
            runs[nruns] = i
            nruns += 1
            cursor = x.e
        if cursor < n:
            runs[nruns] = -1 - cursor
            nruns += 1
        if nruns == 1 and runs[0] < 0:
            w_lit(w, b',"text":')
            a = w.n
            w_slice(w, text, 0, n)
            b = w.n
            w_lit(w, b',"text_entities":[{"type":"plain","text":')
            w_copy(w, a, b)
            return w_lit(w, b"}]")
        w_lit(w, b',"text":[')
        for i in range(nruns):
            if i:
                w_char(w, 44)
            at[2 * i] = w.n
            if runs[i] >= 0:
                w_run(w, text, &ev.a[runs[i]])
            else:
                w_slice(w, text, -1 - runs[i], run_end(runs, nruns, i, &ev, n))
            at[2 * i + 1] = w.n
        w_lit(w, b'],"text_entities":[')
        for i in range(nruns):
            if i:
                w_char(w, 44)
            if runs[i] >= 0:
                w_copy(w, at[2 * i], at[2 * i + 1])
            else:
                w_lit(w, b'{"type":"plain","text":')
                w_copy(w, at[2 * i], at[2 * i + 1])
                w_char(w, 125)
        w_char(w, 93)
    finally:
        if ev.heap:
            free(ev.a)
        if runs != stack_runs:
            free(runs)
        if at != stack_at:
            free(at)
    return 0

cdef inline Py_ssize_t run_end(Py_ssize_t *runs, Py_ssize_t nruns, Py_ssize_t i, Ents *ev,
                               Py_ssize_t n) noexcept:
    if i + 1 == nruns:
        return n
    return ev.a[runs[i + 1]].s      # a plain run is always followed by an entity run

cdef const char *TD_NAME_C[K_COUNT]
cdef list _td_name_bytes = [name.encode() for name in _kinds.TD_NAMES]
for _i in range(K_COUNT):
    TD_NAME_C[_i] = <const char *>(<bytes>_td_name_bytes[_i])
