# (included by tl.pyx) a message and its pieces, from TL bytes to the model's Structs

cdef void restrictions(R *r) noexcept:
    cdef uint32_t k, count = vector(r)
    for k in range(count):
        if u32(r) != C_RESTRICTION:
            r.bad = 1
            return
        skip_string(r)
        skip_string(r)
        skip_string(r)


cdef object peer(R *r):
    cdef uint32_t c = u32(r)
    cdef int64_t v = i64(r)
    if r.bad:
        return None
    if c == C_PEER_USER:
        return PeerRef("user", v)
    if c == C_PEER_CHAT:
        return PeerRef("chat", v)
    if c == C_PEER_CHANNEL:
        return PeerRef("channel", v)
    r.bad = 1
    return None


cdef list entities(R *r):
    cdef uint32_t k, c, flags, count = vector(r)
    cdef int32_t off, ln
    cdef list out = []
    for k in range(count):
        if r.bad:
            return out
        c = u32(r)
        if c == C_ENT_BLOCKQUOTE or c == C_ENT_FORMATTED_DATE:
            flags = u32(r)
            off, ln = i32(r), i32(r)
            if c == C_ENT_FORMATTED_DATE:
                i32(r)
                out.append(Entity("formatted_date", off, ln))
            else:
                out.append(Entity("blockquote", off, ln, collapsed=bool(flags & 1)))
            continue
        off, ln = i32(r), i32(r)
        kind = SIMPLE_ENTITIES.get(c)
        if kind is not None:
            out.append(Entity(kind, off, ln))
        elif c == C_ENT_TEXT_URL:
            out.append(Entity("text_link", off, ln, url=string(r)))
        elif c == C_ENT_PRE:
            out.append(Entity("pre", off, ln, language=string(r)))
        elif c == C_ENT_MENTION_NAME:
            out.append(Entity("mention_name", off, ln, user_id=i64(r)))
        elif c == C_ENT_CUSTOM_EMOJI:
            out.append(Entity("custom_emoji", off, ln, document_id=i64(r)))
        elif c == C_ENT_DIFF_REPLACE:
            skip_string(r)
            out.append(Entity("diff_replace", off, ln))
        else:
            r.bad = 1
    return out


cdef object forward(R *r):
    cdef uint32_t flags = u32(r)
    from_peer = peer(r) if flags & 1 else None
    from_name = string(r) if flags & 32 else None
    cdef int32_t date = i32(r)
    channel_post = i32(r) if flags & 4 else None
    post_author = string(r) if flags & 8 else None
    saved_peer = saved_id = None
    if flags & 16:
        saved_peer = peer(r)
        saved_id = i32(r)
    if flags & 256:
        peer(r)
    if flags & 512:
        skip_string(r)
    if flags & 1024:
        i32(r)
    if flags & 64:
        skip_string(r)
    return Forward(date, from_peer, from_name, channel_post, post_author, saved_peer, saved_id,
                   bool(flags & 128))


cdef object reply_header(R *r):
    cdef uint32_t c = u32(r), flags
    if c == C_REPLY_STORY:
        p = peer(r)
        return ReplyTo(peer=p, story_id=i32(r))
    if c != C_REPLY:
        r.bad = 1
        return None
    flags = u32(r)
    msg_id = i32(r) if flags & 16 else None
    to_peer = peer(r) if flags & 1 else None
    if flags & 32:
        if u32(r) != C_FWD:
            r.bad = 1
            return None
        forward(r)
    if flags & 256:                # reply_media: Telethon's
        r.bad = 1
        return None
    top_id = i32(r) if flags & 2 else None
    quote_text = string(r) if flags & 64 else None
    quote_entities = entities(r) if flags & 128 else []
    if flags & 1024:
        i32(r)
    if flags & 2048:
        i32(r)
    if flags & 4096:
        skip_string(r)
    return ReplyTo(msg_id, top_id, to_peer, bool(flags & 8), quote_text, quote_entities)


cdef tuple reaction(R *r):
    """convert._reaction: (kind, emoji, document id); the empty reaction reads as "paid"."""
    cdef uint32_t c = u32(r)
    if c == C_REACTION_EMOJI:
        return ("emoji", string(r), None)
    if c == C_REACTION_CUSTOM:
        return ("custom_emoji", None, i64(r))
    if c != C_REACTION_PAID and c != C_REACTION_EMPTY:
        r.bad = 1
    return ("paid", None, None)


cdef list reactions(R *r):
    cdef uint32_t flags = u32(r), k, count, f
    cdef list results = [], recent = [], out = []
    cdef int32_t n
    count = vector(r)
    for k in range(count):
        if r.bad or u32(r) != C_REACTION_COUNT:
            r.bad = 1
            return out
        f = u32(r)
        if f & 1:
            i32(r)
        key = reaction(r)
        n = i32(r)
        results.append((key, n))
    if flags & 2:
        count = vector(r)
        for k in range(count):
            if r.bad or u32(r) != C_PEER_REACTION:
                r.bad = 1
                return out
            u32(r)
            p = peer(r)
            date = i32(r)
            recent.append((reaction(r), Reactor(p, date)))
    if flags & 16:
        count = vector(r)
        for k in range(count):
            if r.bad or u32(r) != C_REACTOR:
                r.bad = 1
                return out
            f = u32(r)
            if f & 8:
                peer(r)
            i32(r)
    for key, n in results:
        out.append(Reaction(key[0], n, key[1], key[2], [who for kk, who in recent if kk == key]))
    return out


cdef object message(R *r, object chat, object data, Py_ssize_t start):
    """A ``message`` after its constructor; None (r.bad) for what Telethon must read."""
    cdef uint32_t flags = u32(r), flags2 = u32(r), c
    cdef int32_t msg_id = i32(r)
    from_peer = peer(r) if flags & 256 else None
    if flags & (1 << 29):
        i32(r)
    if flags2 & 4096:
        skip_string(r)
    peer(r)                                      # peer_id: the chat, known
    if flags & (1 << 28):
        peer(r)
    fwd = None
    if flags & 4:
        if u32(r) != C_FWD:
            r.bad = 1
            return None
        fwd = forward(r)
    via_bot = i64(r) if flags & 2048 else None
    if flags2 & 1:
        i64(r)
    if flags2 & 524288:                          # guestchat_via_from
        r.bad = 1
        return None
    reply = reply_header(r) if flags & 8 else None
    cdef int32_t date = i32(r)
    text = string(r)
    md = media(r) if flags & 512 else None
    if r.bad:                                    # other media: Telethon's
        return None
    if flags & 64:                               # an inline keyboard: Telethon's
        r.bad = 1
        return None
    ents = entities(r) if flags & 128 else []
    views = forwards = None
    if flags & 1024:
        views = i32(r)
        forwards = i32(r)
    replies = comments_chat = None
    cdef uint32_t rf
    if flags & 8388608:
        if u32(r) != C_REPLIES:
            r.bad = 1
            return None
        rf = u32(r)
        replies = i32(r)
        i32(r)
        if rf & 2:
            for _ in range(vector(r)):
                peer(r)
        channel_id = i64(r) if rf & 1 else None
        if rf & 4:
            i32(r)
        if rf & 8:
            i32(r)
        if rf & 1:
            comments_chat = channel_id
    edit = i32(r) if flags & 32768 else 0
    post_author = string(r) if flags & 65536 else None
    grouped = i64(r) if flags & 131072 else None
    if flags & 1048576:
        if u32(r) != C_REACTIONS:
            r.bad = 1
            return None
        reacts = reactions(r)
    else:
        reacts = []
    if flags & 4194304:
        restrictions(r)
    ttl = i32(r) if flags & 33554432 else None
    if flags & (1 << 30):
        i32(r)
    if flags2 & 4:
        i64(r)
    if flags2 & (8 | 128 | 8192):                # factcheck, suggested_post, rich_message
        r.bad = 1
        return None
    if flags2 & 32:
        i32(r)
    if flags2 & 64:
        i64(r)
    if flags2 & 1024:
        i32(r)
    if flags2 & 2048:
        skip_string(r)
    if r.bad:
        return None
    topic = None
    if reply is not None and reply.forum_topic and reply.story_id is None:
        topic = reply.top_id or reply.msg_id
    return Message(
        msg_id, chat, date, text=text, entities=ents, forward=fwd, media=md,
        edit_date=edit or None, views=views, forwards=forwards, replies=replies,
        comments_chat=comments_chat, grouped_id=grouped, post_author=post_author,
        via_bot_id=via_bot, topic_id=topic, reactions=reacts, buttons=[],
        pinned=bool(flags & 16777216), noforwards=bool(flags & 67108864),
        from_peer=from_peer, out=bool(flags & 2), post=bool(flags & 16384), reply_to=reply,
        silent=bool(flags & 8192), ttl_period=ttl, raw=data[start:r.pos])
