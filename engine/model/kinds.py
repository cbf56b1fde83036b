"""Message entity kind codes, shared by the text core (native and pure) and the model.

An entity reaches the text core as ``(kind, offset, length, arg)``: ``kind`` is one of the
codes below, ``offset``/``length`` count UTF-16 code units (Telegram's convention), and
``arg`` carries the one extra value a kind has (see ``ARG``).  The codes are stable: they
are stored in the model and compared in C, so never renumber them; add new kinds at the end.
"""

from __future__ import annotations

UNKNOWN = 0
MENTION = 1
HASHTAG = 2
BOT_COMMAND = 3
URL = 4
EMAIL = 5
BOLD = 6
ITALIC = 7
CODE = 8
PRE = 9
TEXT_URL = 10
MENTION_NAME = 11
PHONE = 12
CASHTAG = 13
UNDERLINE = 14
STRIKE = 15
BLOCKQUOTE = 16
BANK_CARD = 17
SPOILER = 18
CUSTOM_EMOJI = 19

COUNT = 20

#: Telegram Desktop's ``type`` string for each kind (result.json ``text_entities``), by code.
TD_NAMES: tuple[str, ...] = (
    "unknown", "mention", "hashtag", "bot_command", "link", "email", "bold", "italic", "code",
    "pre", "text_link", "mention_name", "phone", "cashtag", "underline", "strikethrough",
    "blockquote", "bank_card", "spoiler", "custom_emoji",
)

#: The kinds that carry an ``arg``, with its meaning and Telegram Desktop's key for it.
ARG: dict[int, tuple[str, str]] = {
    PRE: ("language", "str: the code block's language, '' for none"),
    TEXT_URL: ("href", "str: the link target"),
    MENTION_NAME: ("user_id", "int: the mentioned user's id"),
    CUSTOM_EMOJI: ("document_id", "int (or digit str): the custom emoji's document id"),
    BLOCKQUOTE: ("collapsed", "bool: the quote is collapsed"),
}

#: Telethon 1.45 ``MessageEntity*`` class name -> kind (the model converter's table).
TELETHON: dict[str, int] = {
    "MessageEntityUnknown": UNKNOWN,
    "MessageEntityMention": MENTION,
    "MessageEntityHashtag": HASHTAG,
    "MessageEntityBotCommand": BOT_COMMAND,
    "MessageEntityUrl": URL,
    "MessageEntityEmail": EMAIL,
    "MessageEntityBold": BOLD,
    "MessageEntityItalic": ITALIC,
    "MessageEntityCode": CODE,
    "MessageEntityPre": PRE,
    "MessageEntityTextUrl": TEXT_URL,
    "MessageEntityMentionName": MENTION_NAME,
    "InputMessageEntityMentionName": MENTION_NAME,
    "MessageEntityPhone": PHONE,
    "MessageEntityCashtag": CASHTAG,
    "MessageEntityUnderline": UNDERLINE,
    "MessageEntityStrike": STRIKE,
    "MessageEntityBlockquote": BLOCKQUOTE,
    "MessageEntityBankCard": BANK_CARD,
    "MessageEntitySpoiler": SPOILER,
    "MessageEntityCustomEmoji": CUSTOM_EMOJI,
}

assert len(TD_NAMES) == COUNT
