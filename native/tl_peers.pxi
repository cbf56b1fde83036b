# (included by tl.pyx) the chats and users after a page's messages, as convert.peer_info
# reads them; anything else (a forum topic, a constructor of another layer) sets r.bad and
# Telethon reads the whole tail

DEF C_USER = 0xb1b8cc83
DEF C_USER_EMPTY = 0xd3bc4b7a
DEF C_CHAT = 0x41cbf256
DEF C_CHAT_EMPTY = 0x29562865
DEF C_CHAT_FORBIDDEN = 0x6592a1a7
DEF C_CHANNEL = 0xd49f34c6
DEF C_CHANNEL_FORBIDDEN = 0x17d493d5
DEF C_USER_PHOTO = 0x82d1f706
DEF C_USER_PHOTO_EMPTY = 0x4f11bae1
DEF C_CHAT_PHOTO = 0x1c6e1c11
DEF C_CHAT_PHOTO_EMPTY = 0x37c1011c
DEF C_STATUS_EMPTY = 0x09d05049
DEF C_STATUS_LAST_MONTH = 0x65899777
DEF C_STATUS_LAST_WEEK = 0x541a1d1a
DEF C_STATUS_RECENTLY = 0x7b197dc8
DEF C_STATUS_OFFLINE = 0x008c703f
DEF C_STATUS_ONLINE = 0xedb93949
DEF C_EMOJI_STATUS = 0xe7ff068a
DEF C_EMOJI_STATUS_COLLECTIBLE = 0x7184603b
DEF C_EMOJI_STATUS_EMPTY = 0x2de11aae
DEF C_USERNAME = 0xb4073647
DEF C_RECENT_STORY = 0x711d692d
DEF C_PEER_COLOR = 0xb54b5acf
DEF C_PEER_COLOR_COLLECTIBLE = 0xb9c0639a
DEF C_ADMIN_RIGHTS = 0x5fb224d5
DEF C_BANNED_RIGHTS = 0x9f120418
DEF C_INPUT_CHANNEL = 0xf35aec28
DEF C_INPUT_CHANNEL_EMPTY = 0xee8c1e86

PEER_IDS = {
    "User": C_USER, "UserEmpty": C_USER_EMPTY, "Chat": C_CHAT, "ChatEmpty": C_CHAT_EMPTY,
    "ChatForbidden": C_CHAT_FORBIDDEN, "Channel": C_CHANNEL,
    "ChannelForbidden": C_CHANNEL_FORBIDDEN, "UserProfilePhoto": C_USER_PHOTO,
    "UserProfilePhotoEmpty": C_USER_PHOTO_EMPTY, "ChatPhoto": C_CHAT_PHOTO,
    "ChatPhotoEmpty": C_CHAT_PHOTO_EMPTY, "UserStatusEmpty": C_STATUS_EMPTY,
    "UserStatusLastMonth": C_STATUS_LAST_MONTH, "UserStatusLastWeek": C_STATUS_LAST_WEEK,
    "UserStatusRecently": C_STATUS_RECENTLY, "UserStatusOffline": C_STATUS_OFFLINE,
    "UserStatusOnline": C_STATUS_ONLINE, "EmojiStatus": C_EMOJI_STATUS,
    "EmojiStatusCollectible": C_EMOJI_STATUS_COLLECTIBLE,
    "EmojiStatusEmpty": C_EMOJI_STATUS_EMPTY, "Username": C_USERNAME,
    "RecentStory": C_RECENT_STORY, "PeerColor": C_PEER_COLOR,
    "PeerColorCollectible": C_PEER_COLOR_COLLECTIBLE, "ChatAdminRights": C_ADMIN_RIGHTS,
    "ChatBannedRights": C_BANNED_RIGHTS, "InputChannel": C_INPUT_CHANNEL,
    "InputChannelEmpty": C_INPUT_CHANNEL_EMPTY,
}

cdef object PeerInfo = _model.PeerInfo


cdef void skip_ints(R *r) noexcept:
    cdef uint32_t k, count = vector(r)
    for k in range(count):
        i32(r)


cdef void photo_ref(R *r) noexcept:
    """A user's or chat's profile photo reference."""
    cdef uint32_t c = u32(r), flags
    if c == C_USER_PHOTO or c == C_CHAT_PHOTO:
        flags = u32(r)
        i64(r)
        if flags & 2:
            skip_string(r)
        i32(r)
    elif c != C_USER_PHOTO_EMPTY and c != C_CHAT_PHOTO_EMPTY:
        r.bad = 1


cdef void user_status(R *r) noexcept:
    cdef uint32_t c = u32(r)
    if c == C_STATUS_LAST_MONTH or c == C_STATUS_LAST_WEEK or c == C_STATUS_RECENTLY \
            or c == C_STATUS_OFFLINE or c == C_STATUS_ONLINE:
        u32(r)
    elif c != C_STATUS_EMPTY:
        r.bad = 1


cdef void emoji_status(R *r) noexcept:
    cdef uint32_t c = u32(r), flags
    if c == C_EMOJI_STATUS:
        flags = u32(r)
        i64(r)
    elif c == C_EMOJI_STATUS_COLLECTIBLE:
        flags = u32(r)
        i64(r)
        i64(r)
        skip_string(r)
        skip_string(r)
        i64(r)
        i32(r)
        i32(r)
        i32(r)
        i32(r)
    else:
        if c != C_EMOJI_STATUS_EMPTY:
            r.bad = 1
        return
    if flags & 1:
        i32(r)


cdef void usernames(R *r) noexcept:
    cdef uint32_t k, count = vector(r)
    for k in range(count):
        if u32(r) != C_USERNAME:
            r.bad = 1
            return
        u32(r)
        skip_string(r)


cdef void recent_story(R *r) noexcept:
    if u32(r) != C_RECENT_STORY:
        r.bad = 1
        return
    if u32(r) & 2:
        i32(r)


cdef void peer_color(R *r) noexcept:
    cdef uint32_t c = u32(r), flags = u32(r)
    if c == C_PEER_COLOR:
        if flags & 1:
            i32(r)
        if flags & 2:
            i64(r)
    elif c == C_PEER_COLOR_COLLECTIBLE:
        i64(r)
        i64(r)
        i64(r)
        i32(r)
        skip_ints(r)
        if flags & 1:
            i32(r)
        if flags & 2:
            skip_ints(r)
    else:
        r.bad = 1


cdef void rights(R *r, uint32_t c) noexcept:
    if u32(r) != c:
        r.bad = 1
        return
    u32(r)
    if c == C_BANNED_RIGHTS:
        i32(r)


cdef object user(R *r):
    cdef uint32_t flags = u32(r), flags2 = u32(r)
    cdef int64_t uid = i64(r)
    if flags & 1:
        i64(r)
    first = string(r) if flags & 2 else None
    last = string(r) if flags & 4 else None
    username = string(r) if flags & 8 else None
    if flags & 16:
        skip_string(r)
    if flags & 32:
        photo_ref(r)
    if flags & 64:
        user_status(r)
    if flags & 16384:
        i32(r)
    if flags & 262144:
        restrictions(r)
    if flags & 524288:
        skip_string(r)
    if flags & 4194304:
        skip_string(r)
    if flags & (1 << 30):
        emoji_status(r)
    if flags2 & 1:
        usernames(r)
    if flags2 & 32:
        recent_story(r)
    if flags2 & 256:
        peer_color(r)
    if flags2 & 512:
        peer_color(r)
    if flags2 & 4096:
        i32(r)
    if flags2 & 16384:
        i64(r)
    if flags2 & 32768:
        i64(r)
    if flags2 & 2097152:
        i64(r)
    name = " ".join([x for x in (first, last) if x]) or None
    return PeerInfo(PeerRef("user", uid), name, username, bool(flags & 16384),
                    bool(flags & 8192))


cdef object chat(R *r):
    cdef uint32_t flags = u32(r), c
    cdef int64_t cid = i64(r)
    title = string(r)
    photo_ref(r)
    i32(r)
    i32(r)
    i32(r)
    if flags & 64:
        c = u32(r)
        if c == C_INPUT_CHANNEL:
            i64(r)
            i64(r)
        elif c != C_INPUT_CHANNEL_EMPTY:
            r.bad = 1
    if flags & 16384:
        rights(r, C_ADMIN_RIGHTS)
    if flags & 262144:
        rights(r, C_BANNED_RIGHTS)
    return PeerInfo(PeerRef("chat", cid), title or None)


cdef object channel(R *r):
    cdef uint32_t flags = u32(r), flags2 = u32(r)
    cdef int64_t cid = i64(r)
    if flags & 8192:
        i64(r)
    title = string(r)
    username = string(r) if flags & 64 else None
    photo_ref(r)
    i32(r)
    if flags & 512:
        restrictions(r)
    if flags & 16384:
        rights(r, C_ADMIN_RIGHTS)
    if flags & 32768:
        rights(r, C_BANNED_RIGHTS)
    if flags & 262144:
        rights(r, C_BANNED_RIGHTS)
    if flags & 131072:
        i32(r)
    if flags2 & 1:
        usernames(r)
    if flags2 & 16:
        recent_story(r)
    if flags2 & 128:
        peer_color(r)
    if flags2 & 256:
        peer_color(r)
    if flags2 & 512:
        emoji_status(r)
    if flags2 & 1024:
        i32(r)
    if flags2 & 2048:
        i32(r)
    if flags2 & 8192:
        i64(r)
    if flags2 & 16384:
        i64(r)
    if flags2 & 262144:
        i64(r)
    if flags2 & 1048576:
        i64(r)
    return PeerInfo(PeerRef("channel", cid), title or None, username)


cdef list tail_peers(R *r):
    """The peers of the topics, chats and users vectors (chats first, as convert.py);
    r.bad for a topic or anything unknown."""
    cdef list out = []
    cdef uint32_t k, v, c, count
    if vector(r):                                # forum topics: Telethon's
        r.bad = 1
        return out
    for v in range(2):
        count = vector(r)
        for k in range(count):
            if r.bad:
                return out
            c = u32(r)
            if c == C_USER:
                out.append(user(r))
            elif c == C_CHANNEL:
                out.append(channel(r))
            elif c == C_CHAT:
                out.append(chat(r))
            elif c == C_CHAT_FORBIDDEN:
                cid = i64(r)
                title = string(r)
                out.append(PeerInfo(PeerRef("chat", cid), title or None))
            elif c == C_CHANNEL_FORBIDDEN:
                flags = u32(r)
                cid = i64(r)
                i64(r)
                title = string(r)
                if flags & 65536:
                    i32(r)
                out.append(PeerInfo(PeerRef("channel", cid), title or None, None))
            elif c == C_USER_EMPTY or c == C_CHAT_EMPTY:
                i64(r)
            else:
                r.bad = 1
    return out
