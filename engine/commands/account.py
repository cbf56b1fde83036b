"""The account commands, ``login``, ``logout`` and ``chats``: the terminal around
engine/telegram/signin.py, signout.py and dialogs.py (which do the Telegram side).

Questions go to stderr and answers come from stdin: hidden (getpass) on a terminal,
plain lines otherwise, so a script or a test can pipe them. stdout carries only
machine-readable output: the StringSession (``login`` without ``--session``), the
dialog table or its JSON (``chats``). Nothing typed (code, password, bot token) is
ever echoed back. A bot token is best typed at the prompt of ``login --bot`` (or put in
TGARC_BOT_TOKEN): ``--bot-token TOKEN`` still works, but every local user can read a
command line (``ps``), so cli.py warns about it.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import sys
import unicodedata

from engine.config import ConfigError


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Prompter:
    """``ask(what, prompt, secret)`` for the login flow."""

    def __init__(self, stdin=None, err=None):
        self.stdin = stdin if stdin is not None else sys.stdin
        self.err = err if err is not None else sys.stderr
        self.interactive = bool(self.stdin is not None and self.stdin.isatty())

    def __call__(self, what: str, prompt: str, secret: bool) -> str:
        if self.stdin is None:
            raise ConfigError(f"no {what} given (no standard input to ask on)")
        if self.interactive and secret:
            try:
                return getpass.getpass(prompt, stream=self.err)
            except EOFError:
                raise ConfigError(f"no {what} given") from None
        self.err.write(prompt)
        self.err.flush()
        line = self.stdin.readline()
        if not self.interactive:
            self.err.write("\n")         # the answer was not echoed: end the prompt's line
            self.err.flush()
        if not line:
            raise ConfigError(f"no {what} given (standard input is closed)")
        return line.rstrip("\r\n")


@contextlib.contextmanager
def _quiet_telethon(debug: bool):
    """Telethon logs connection attempts as warnings (Python prints those on stderr when
    nothing is configured); the command's own one-line error says it better. --debug
    keeps them."""
    if debug:
        yield
        return
    log = logging.getLogger("telethon")
    handler = logging.NullHandler()
    log.addHandler(handler)
    try:
        yield
    finally:
        log.removeHandler(handler)


# ---- QR code in the terminal ------------------------------------------------------------------
def qr_lines(data: str, ansi: bool = False) -> list[str]:
    """``data`` as a QR code of half-block characters, two module rows per line: light
    modules drawn (light on a dark terminal), dark ones left blank; ``ansi`` forces white
    on black so it scans on light terminals too."""
    import qrcode

    code = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_L)
    code.add_data(data)
    code.make(fit=True)
    rows = [[not dark for dark in row] for row in code.get_matrix()]    # True: light
    if len(rows) % 2:
        rows.append([True] * len(rows[0]))
    chars = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}
    lines = []
    for top, bottom in zip(rows[0::2], rows[1::2], strict=True):
        line = "".join(chars[pair] for pair in zip(top, bottom, strict=True))
        lines.append(f"\x1b[38;5;255;48;5;232m{line}\x1b[0m" if ansi else line)
    return lines


def show_qr(url: str, err=None) -> None:
    err = err if err is not None else sys.stderr
    lines: list[str] = []
    try:
        "█▀▄".encode(err.encoding or "ascii")
        lines = qr_lines(url, ansi=err.isatty())
    except (ImportError, UnicodeError, LookupError):
        pass                            # no renderer or no block characters: the link only
    if lines:
        print("scan this QR code with Telegram on a phone where you are logged in "
              "(Settings > Devices > Link Desktop Device):", file=err)
        print("\n".join(lines), file=err)
    print(f"login link (the same as the QR code): {url}", file=err)
    print("waiting for the scan...", file=err, flush=True)


# ---- commands ---------------------------------------------------------------------------------
def login(session: str | None, phone: str | None = None, qr: bool = False,
          bot_token: str | None = None, debug: bool = False, proxy: str | None = None,
          bot: bool = False) -> int:
    """``bot``: log in as a bot with the token from TGARC_BOT_TOKEN, else asked (hidden on
    a terminal, a line of stdin otherwise); ``bot_token`` (``--bot-token``) still works."""
    from engine.telegram import signin as tg

    ask = Prompter()
    with _quiet_telethon(debug):
        res = asyncio.run(tg.login(session, ask=ask, say=_say, show_qr=show_qr, phone=phone,
                                   qr=qr, bot_token=bot_token, bot=bot, proxy=proxy,
                                   tries=tg.ANSWER_TRIES if ask.interactive else 1))
    if res.already:
        _say(f"already logged in as {res.me.describe()} in {res.path}; run "
             f"`tgarc logout --session {session}` first to log in as someone else")
        return 0
    _say(f"logged in as {res.me.describe()}")
    if res.path is not None:
        _say(f"session saved to {res.path} (keep it private: it opens the account)")
    else:
        sys.stdout.write(res.session_string + "\n")
        sys.stdout.flush()
        _say("the session string is on stdout: put it in TGARC_SESSION and keep it private "
             "(it opens the account)")
    if res.me.bot:
        _say("note: Telegram lets bots neither list dialogs nor read chat histories; "
             "`tgarc export` needs a user login")
    return 0


def logout(session: str | None, debug: bool = False, proxy: str | None = None) -> int:
    from engine.telegram import signout as tg

    with _quiet_telethon(debug):
        res = asyncio.run(tg.logout(session, proxy=proxy))
    what = "logged out" if res.was_logged_in else "the session was already logged out"
    _say(what + (f"; removed {res.removed}" if res.removed is not None else ""))
    return 0


def chats(session: str | None, as_json: bool = False, page: int = 100,
          debug: bool = False, proxy: str | None = None, lease: str | None = None) -> int:
    from engine.telegram import dialogs as tg

    with _quiet_telethon(debug):
        found = asyncio.run(tg.dialogs(session, page=page, proxy=proxy, lease=lease))
    if as_json:
        import orjson

        sys.stdout.buffer.write(orjson.dumps([d.as_dict() for d in found],
                                             option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
    else:
        sys.stdout.write(table(found))
        sys.stdout.flush()
    _say(f"{len(found)} dialog{'s' if len(found) != 1 else ''}")
    return 0


_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                  "\u2066\u2067\u2068\u2069")


def _clean(text: str) -> str:
    """A title fit for a terminal: no control characters (escape sequences, newlines)
    nor bidi overrides that would garble the table."""
    return "".join(" " if unicodedata.category(c) == "Cc" or c in _BIDI else c
                   for c in text).strip()


def table(found) -> str:
    rows = [("ID", "KIND", "USERNAME", "TITLE")]
    rows += [(str(d.id), d.kind, f"@{d.username}" if d.username else "-", _clean(d.title))
             for d in found]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "".join(f"{r[0]:>{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}"
                   .rstrip() + "\n" for r in rows)
