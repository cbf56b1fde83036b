# (included by tl.pyx) a message's photo or document, as convert.media reads them

DEF C_MEDIA_PHOTO = 0xe216eb63
DEF C_MEDIA_DOCUMENT = 0x52d8ccd9
DEF C_PHOTO = 0xfb197a65
DEF C_PHOTO_EMPTY = 0x2331b22d
DEF C_SIZE = 0x75c78e60
DEF C_SIZE_CACHED = 0x021e1ad6
DEF C_SIZE_STRIPPED = 0xe0b0bc2e
DEF C_SIZE_PROGRESSIVE = 0xfa3efb95
DEF C_SIZE_PATH = 0xd8214d41
DEF C_SIZE_EMPTY = 0x0e17e23c
DEF C_VIDEO_SIZE = 0xde33b094
DEF C_DOCUMENT = 0x8fd4c4d8
DEF C_DOCUMENT_EMPTY = 0x36f8c871
DEF C_ATTR_IMAGE_SIZE = 0x6c37c15c
DEF C_ATTR_ANIMATED = 0x11b58939
DEF C_ATTR_STICKER = 0x6319d612
DEF C_ATTR_VIDEO = 0x43c57c48
DEF C_ATTR_AUDIO = 0x9852f9c6
DEF C_ATTR_FILENAME = 0x15590068
DEF C_ATTR_HAS_STICKERS = 0x9801d2f7
DEF C_SET_EMPTY = 0xffb62b95
DEF C_SET_ID = 0x9de7a269
DEF C_SET_SHORT_NAME = 0x861cc8a0
DEF C_MASK_COORDS = 0xaed6dbb2

MEDIA_IDS = {
    "MessageMediaPhoto": C_MEDIA_PHOTO, "MessageMediaDocument": C_MEDIA_DOCUMENT,
    "Photo": C_PHOTO, "PhotoEmpty": C_PHOTO_EMPTY, "PhotoSize": C_SIZE,
    "PhotoCachedSize": C_SIZE_CACHED, "PhotoStrippedSize": C_SIZE_STRIPPED,
    "PhotoSizeProgressive": C_SIZE_PROGRESSIVE, "PhotoPathSize": C_SIZE_PATH,
    "PhotoSizeEmpty": C_SIZE_EMPTY, "VideoSize": C_VIDEO_SIZE, "Document": C_DOCUMENT,
    "DocumentEmpty": C_DOCUMENT_EMPTY, "DocumentAttributeImageSize": C_ATTR_IMAGE_SIZE,
    "DocumentAttributeAnimated": C_ATTR_ANIMATED, "DocumentAttributeSticker": C_ATTR_STICKER,
    "DocumentAttributeVideo": C_ATTR_VIDEO, "DocumentAttributeAudio": C_ATTR_AUDIO,
    "DocumentAttributeFilename": C_ATTR_FILENAME,
    "DocumentAttributeHasStickers": C_ATTR_HAS_STICKERS, "InputStickerSetEmpty": C_SET_EMPTY,
    "InputStickerSetID": C_SET_ID, "InputStickerSetShortName": C_SET_SHORT_NAME,
    "MaskCoords": C_MASK_COORDS,
}

cdef object Photo = _model.Photo
cdef object Document = _model.Document
cdef object OtherMedia = _model.OtherMedia


cdef inline object tl_bytes(R *r):
    cdef Py_ssize_t n = 0
    cdef Py_ssize_t at = span(r, &n)
    if r.bad:
        return None
    return PyBytes_FromStringAndSize(<const char *>(r.b + at), n)


cdef inline double f64(R *r) noexcept:
    cdef double v = 0
    if r.pos + 8 > r.n:
        r.bad = 1
        return 0
    memcpy(&v, r.b + r.pos, 8)
    r.pos += 8
    return v


cdef tuple largest(R *r):
    """convert._largest over a vector of PhotoSizes: (w, h, bytes, type) of the first
    size with the largest area, stripped and path previews left out; None if none."""
    cdef uint32_t k, j, c, count = vector(r), m
    cdef int32_t w, h, nbytes, v
    cdef int64_t area, best_area = -1
    cdef Py_ssize_t blen = 0
    best = None
    for k in range(count):
        c = u32(r)
        kind = string(r)
        if c == C_SIZE or c == C_SIZE_CACHED or c == C_SIZE_PROGRESSIVE:
            w, h = i32(r), i32(r)
            if c == C_SIZE:
                nbytes = i32(r)
            elif c == C_SIZE_CACHED:
                span(r, &blen)                   # its bytes: their length is the size
                nbytes = <int32_t>blen
            else:
                m = vector(r)
                nbytes = 0
                for j in range(m):
                    v = i32(r)
                    if j == 0 or v > nbytes:
                        nbytes = v
            area = <int64_t>w * h
            if best is None or area > best_area:
                best, best_area = (w, h, nbytes, kind), area
        elif c == C_SIZE_STRIPPED or c == C_SIZE_PATH:
            span(r, &blen)
        elif c != C_SIZE_EMPTY:
            r.bad = 1
        if r.bad:
            return None
    return best


cdef void video_sizes(R *r) noexcept:
    cdef uint32_t k, count = vector(r), flags
    for k in range(count):
        if u32(r) != C_VIDEO_SIZE:
            r.bad = 1
            return
        flags = u32(r)
        skip_string(r)
        i32(r)
        i32(r)
        i32(r)
        if flags & 1:
            f64(r)


cdef object photo(R *r, bint spoiler, object ttl):
    """convert.photo after MessageMediaPhoto's ``photo``: None for PhotoEmpty."""
    cdef uint32_t c = u32(r), flags
    if c == C_PHOTO_EMPTY:
        i64(r)
        return None
    if c != C_PHOTO:
        r.bad = 1
        return None
    flags = u32(r)
    pid, access = i64(r), i64(r)
    ref = tl_bytes(r)
    date = i32(r)
    best = largest(r)
    if flags & 2:
        video_sizes(r)
    dc = i32(r)
    if r.bad:
        return None
    if best is None:
        return Photo(id=pid, access_hash=access, file_reference=ref, dc_id=dc, date=date,
                     width=0, height=0, size=0, thumb_type="", spoiler=spoiler,
                     ttl_seconds=ttl)
    return Photo(id=pid, access_hash=access, file_reference=ref, dc_id=dc, date=date,
                 width=best[0], height=best[1], size=best[2], thumb_type=best[3],
                 spoiler=spoiler, ttl_seconds=ttl)


cdef void sticker_set(R *r) noexcept:
    cdef uint32_t c = u32(r)
    if c == C_SET_ID:
        i64(r)
        i64(r)
    elif c == C_SET_SHORT_NAME:
        skip_string(r)
    elif c != C_SET_EMPTY:
        r.bad = 1


cdef object document(R *r, bint spoiler, object ttl):
    """convert.document after MessageMediaDocument's ``document``: None for DocumentEmpty."""
    cdef uint32_t c = u32(r), flags, k, count, af
    if c == C_DOCUMENT_EMPTY:
        i64(r)
        return None
    if c != C_DOCUMENT:
        r.bad = 1
        return None
    flags = u32(r)
    did, access = i64(r), i64(r)
    ref = tl_bytes(r)
    date = i32(r)
    mime = string(r)
    size = i64(r)
    thumb = largest(r) if flags & 1 else None
    if flags & 2:
        video_sizes(r)
    dc = i32(r)
    file_name = media_type = duration = width = height = performer = title = emoji = None
    cdef bint sticker = 0, animated = 0
    count = vector(r)
    for k in range(count):
        if r.bad:
            return None
        c = u32(r)
        if c == C_ATTR_FILENAME:
            file_name = string(r)
        elif c == C_ATTR_STICKER:
            af = u32(r)
            sticker = 1
            emoji = string(r) or None
            sticker_set(r)
            if af & 1:
                if u32(r) != C_MASK_COORDS:
                    r.bad = 1
                i32(r)
                f64(r)
                f64(r)
                f64(r)
        elif c == C_ATTR_ANIMATED:
            animated = 1
        elif c == C_ATTR_VIDEO:
            af = u32(r)
            duration = f64(r)
            width, height = i32(r), i32(r)
            if af & 4:
                i32(r)
            if af & 16:
                f64(r)
            if af & 32:
                skip_string(r)
            media_type = media_type or ("video_message" if af & 1 else "video_file")
        elif c == C_ATTR_AUDIO:
            af = u32(r)
            duration = float(i32(r))
            title = string(r) if af & 1 else None
            performer = string(r) if af & 2 else None
            if af & 4:
                skip_string(r)
            media_type = media_type or ("voice_message" if af & 1024 else "audio_file")
        elif c == C_ATTR_IMAGE_SIZE:
            width, height = i32(r), i32(r)
        elif c != C_ATTR_HAS_STICKERS:
            r.bad = 1                            # custom emoji and newer kinds: Telethon's
    if r.bad:
        return None
    if sticker:
        media_type = "sticker"
    elif animated:
        media_type = "animation"
    return Document(
        id=did, access_hash=access, file_reference=ref, dc_id=dc, date=date, mime_type=mime,
        size=size, spoiler=spoiler, ttl_seconds=ttl, file_name=file_name,
        media_type=media_type, duration=duration, width=width, height=height,
        performer=performer, title=title, sticker_emoji=emoji, has_thumb=thumb is not None,
        thumb_type=thumb[3] if thumb is not None else "",
        thumb_size=thumb[2] if thumb is not None else 0)


cdef object media(R *r):
    """convert.media of a message's photo, document or nothing (None, r.bad untouched);
    anything else sets r.bad: Telethon reads that message."""
    cdef uint32_t c = u32(r), flags
    if c == C_MEDIA_EMPTY:
        return None
    if c == C_MEDIA_PHOTO:
        flags = u32(r)
        if flags & 16:                           # a live photo's video: Telethon's
            r.bad = 1
            return None
        p = photo(r, bool(flags & 8), None) if flags & 1 else None
        ttl = i32(r) if flags & 4 else None
        if p is not None and ttl is not None:
            p.ttl_seconds = ttl
        return p if p is not None or r.bad else OtherMedia("photo_empty")
    if c == C_MEDIA_DOCUMENT:
        flags = u32(r)
        if flags & (32 | 512):                   # alternative versions, a video cover
            r.bad = 1
            return None
        d = document(r, bool(flags & 16), None) if flags & 1 else None
        if flags & 1024:
            i32(r)
        ttl = i32(r) if flags & 4 else None
        if d is not None and ttl is not None:
            d.ttl_seconds = ttl
        return d if d is not None or r.bad else OtherMedia("document_empty")
    r.bad = 1
    return None
