"""Login RPCs: phone code, 2FA (SRP), QR login token, bot token, log out.

A key made by the handshake starts with no user: every RPC but the ones
``allowed_without_login`` gets 401 AUTH_KEY_UNREGISTERED until one of these logs
it in.  The test knobs live on the server: ``dc.login_code`` (the code auth.sendCode
"sends"), ``dc.password`` (2FA; None disables it), ``dc.scan_qr(token)`` (a
logged-in phone scanning the QR code).

SRP is Telegram's (https://core.telegram.org/api/srp), checked for real: the
server keeps only the verifier v = g^x and verifies the client's proof M1.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import re
import secrets
import struct
import threading
from dataclasses import dataclass, field

from telethon.tl import functions, types

from .handshake import DH_G, DH_PRIME
from .rpc import BOOL_TRUE, RpcError, handles

SRP_P = DH_PRIME
SRP_G = DH_G
QR_TTL = 30                          # seconds a login token lives
BOT_TOKEN = re.compile(r"^(\d{1,15}):([A-Za-z0-9_-]{20,})$")
NO_LOGIN_NEEDED = {functions.account.GetPasswordRequest}


def allowed_without_login(request) -> bool:
    """What a key with no user may call: auth.*, help.*, account.getPassword."""
    module = type(request).__module__.rsplit(".", 1)[-1]
    return module in ("auth", "help") or type(request) in NO_LOGIN_NEEDED


def _sha256(*parts: bytes) -> bytes:
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def _pad256(n: int) -> bytes:
    return n.to_bytes(256, "big")


def password_hash(password: str, salt1: bytes, salt2: bytes) -> bytes:
    """x of PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow."""
    h1 = _sha256(salt1, password.encode(), salt1)
    h2 = _sha256(salt2, h1, salt2)
    h3 = hashlib.pbkdf2_hmac("sha512", h2, salt1, 100_000)
    return _sha256(salt2, h3, salt2)


@dataclass
class _Srp:
    b: int
    B: int


@dataclass
class LoginState:
    """Per-server login bookkeeping (``dc.login``)."""
    salt1: bytes = field(default_factory=lambda: os.urandom(40))
    salt2: bytes = field(default_factory=lambda: os.urandom(16))
    code_hashes: dict[str, str] = field(default_factory=dict)   # phone_code_hash -> phone
    srp: dict[int, _Srp] = field(default_factory=dict)          # srp_id -> server secret
    verifier: tuple[str, int] | None = None                     # (password, v = g^x mod p)
    qr: dict[bytes, dict] = field(default_factory=dict)         # token -> {key_id, expires, user}
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def v(self, password: str) -> int:
        with self.lock:
            if self.verifier is None or self.verifier[0] != password:
                x = int.from_bytes(password_hash(password, self.salt1, self.salt2), "big")
                self.verifier = (password, pow(SRP_G, x, SRP_P))
            return self.verifier[1]

    def algo(self):
        return types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(
            salt1=self.salt1, salt2=self.salt2, g=SRP_G, p=_pad256(SRP_P))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _phone(value: str) -> str:
    return re.sub(r"[^0-9]", "", value or "")


def _log_in(dc, conn, user_id: int, bot: bool = False):
    conn.account.user_id = user_id
    conn.account.bot = bot
    return types.auth.Authorization(user=dc.corpus.users[user_id])


def _needs_password(dc) -> bool:
    return dc.password is not None


# ---- phone code ---------------------------------------------------------------------------
def _sent_code(dc, phone: str):
    if _phone(phone) != _phone(dc.corpus.me.phone):
        raise RpcError(400, "PHONE_NUMBER_INVALID")
    code_hash = secrets.token_hex(9)
    dc.login.code_hashes[code_hash] = _phone(phone)
    return types.auth.SentCode(type=types.auth.SentCodeTypeApp(length=len(dc.login_code)),
                               phone_code_hash=code_hash)


@handles(functions.auth.SendCodeRequest)
def send_code(dc, conn, req):
    return _sent_code(dc, req.phone_number)


@handles(functions.auth.ResendCodeRequest)
def resend_code(dc, conn, req):
    if dc.login.code_hashes.get(req.phone_code_hash) != _phone(req.phone_number):
        raise RpcError(400, "PHONE_CODE_EXPIRED")
    return _sent_code(dc, req.phone_number)


@handles(functions.auth.CancelCodeRequest)
def cancel_code(dc, conn, req):
    dc.login.code_hashes.pop(req.phone_code_hash, None)
    return BOOL_TRUE


@handles(functions.auth.SignInRequest)
def sign_in(dc, conn, req):
    phone = _phone(req.phone_number)
    if phone != _phone(dc.corpus.me.phone):
        raise RpcError(400, "PHONE_NUMBER_INVALID")
    if not req.phone_code_hash:
        raise RpcError(400, "PHONE_CODE_HASH_EMPTY")
    if dc.login.code_hashes.get(req.phone_code_hash) != phone:
        raise RpcError(400, "PHONE_CODE_EXPIRED")
    if not req.phone_code:
        raise RpcError(400, "PHONE_CODE_EMPTY")
    if req.phone_code != dc.login_code:
        raise RpcError(400, "PHONE_CODE_INVALID")
    del dc.login.code_hashes[req.phone_code_hash]
    if _needs_password(dc):
        raise RpcError(401, "SESSION_PASSWORD_NEEDED")
    return _log_in(dc, conn, dc.corpus.ME)


# ---- 2FA (SRP) ------------------------------------------------------------------------------
@handles(functions.account.GetPasswordRequest)
def get_password(dc, conn, req):
    st = dc.login
    new_algo = types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(
        salt1=os.urandom(8), salt2=st.salt2, g=SRP_G, p=_pad256(SRP_P))
    common = dict(new_algo=new_algo,
                  new_secure_algo=types.SecurePasswordKdfAlgoSHA512(salt=os.urandom(8)),
                  secure_random=os.urandom(256))
    if not _needs_password(dc):
        return types.account.Password(has_password=False, **common)
    v = st.v(dc.password)
    k = int.from_bytes(_sha256(_pad256(SRP_P), _pad256(SRP_G)), "big")
    while True:
        b = int.from_bytes(os.urandom(256), "big")
        g_b = pow(SRP_G, b, SRP_P)
        B = (k * v + g_b) % SRP_P
        # the client checks g_b = B - k*v and B the way Telegram's checks go
        if _good_mod_exp(g_b) and _good_mod_exp(B):
            break
    srp_id = struct.unpack("<q", os.urandom(8))[0]
    while len(st.srp) >= 64:
        st.srp.pop(next(iter(st.srp)))
    st.srp[srp_id] = _Srp(b=b, B=B)
    return types.account.Password(has_password=True, current_algo=st.algo(), srp_B=_pad256(B),
                                  srp_id=srp_id, hint="the usual", **common)


def _good_mod_exp(n: int) -> bool:
    return (n.bit_length() >= 2048 - 64 and (SRP_P - n).bit_length() >= 2048 - 64
            and 0 < n < SRP_P)


def srp_check(dc, check) -> bool:
    """Verify an InputCheckPasswordSRP against the current password's verifier."""
    st = dc.login
    srp = st.srp.pop(check.srp_id, None)
    if srp is None:
        raise RpcError(400, "SRP_ID_INVALID")
    A = int.from_bytes(check.A, "big")
    if not 1 < A < SRP_P - 1:
        raise RpcError(400, "SRP_A_INVALID")
    a_bytes, b_bytes = _pad256(A), _pad256(srp.B)
    u = int.from_bytes(_sha256(a_bytes, b_bytes), "big")
    v = st.v(dc.password)
    S = pow(A * pow(v, u, SRP_P) % SRP_P, srp.b, SRP_P)
    K = _sha256(_pad256(S))
    hp, hg = _sha256(_pad256(SRP_P)), _sha256(_pad256(SRP_G))
    m1 = _sha256(bytes(x ^ y for x, y in zip(hp, hg, strict=True)), _sha256(st.salt1),
                 _sha256(st.salt2), a_bytes, b_bytes, K)
    return secrets.compare_digest(m1, check.M1)


@handles(functions.auth.CheckPasswordRequest)
def check_password(dc, conn, req):
    if not _needs_password(dc):
        raise RpcError(400, "PASSWORD_EMPTY")
    if not isinstance(req.password, types.InputCheckPasswordSRP) or not srp_check(dc, req.password):
        raise RpcError(400, "PASSWORD_HASH_INVALID")
    # Telegram lets only the key that was told SESSION_PASSWORD_NEEDED finish; the
    # fakedc has one account with a password, so the proof itself says who this is.
    return _log_in(dc, conn, dc.corpus.ME)


# ---- QR login -------------------------------------------------------------------------------
@handles(functions.auth.ExportLoginTokenRequest)
def export_login_token(dc, conn, req):
    st = dc.login
    key_id = conn.account.key_id
    now = _now()
    for token, entry in list(st.qr.items()):
        if entry["expires"] < now and not entry["user"]:
            del st.qr[token]
        elif entry["key_id"] == key_id and entry["user"]:
            del st.qr[token]
            if _needs_password(dc):
                raise RpcError(401, "SESSION_PASSWORD_NEEDED")
            return types.auth.LoginTokenSuccess(authorization=_log_in(dc, conn, entry["user"]))
    token = os.urandom(32)
    expires = now + dt.timedelta(seconds=QR_TTL)
    st.qr[token] = {"key_id": key_id, "expires": expires, "user": None}
    return types.auth.LoginToken(expires=expires, token=token)


@handles(functions.auth.ImportLoginTokenRequest)
def import_login_token(dc, conn, req):
    # What the *scanning* (logged-in) device calls.
    if conn.account.user_id is None:
        raise RpcError(401, "AUTH_KEY_UNREGISTERED")
    accept(dc, req.token, conn.account.user_id)
    return types.auth.LoginTokenSuccess(authorization=types.auth.Authorization(
        user=dc.corpus.users[conn.account.user_id]))


def accept(dc, token: bytes, user_id: int) -> None:
    """Mark ``token`` scanned by ``user_id`` and tell the waiting key's connections
    with a server-initiated updateShort(updateLoginToken).  Runs on the server loop."""
    entry = dc.login.qr.get(token)
    if entry is None or entry["expires"] < _now():
        raise RpcError(400, "AUTH_TOKEN_EXPIRED")
    if entry["user"]:
        raise RpcError(400, "AUTH_TOKEN_ALREADY_ACCEPTED")
    entry["user"] = user_id
    update = types.UpdateShort(update=types.UpdateLoginToken(), date=_now())._bytes()
    for c in list(dc._conns):
        if c.account is not None and c.account.key_id == entry["key_id"] \
                and c.session_id is not None:
            c._send_now(update, content_related=True, response=False)


def scan_qr(dc, token: bytes, user_id: int | None = None) -> None:
    """Test hook behind ``FakeDC.scan_qr``: safe from the server's loop or any thread."""
    user_id = user_id or dc.corpus.ME
    loop = dc._server.get_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        accept(dc, token, user_id)
        return

    async def on_loop():
        accept(dc, token, user_id)

    asyncio.run_coroutine_threadsafe(on_loop(), loop).result(10)


# ---- bots and log out -----------------------------------------------------------------------
@handles(functions.auth.ImportBotAuthorizationRequest)
def import_bot_authorization(dc, conn, req):
    m = BOT_TOKEN.match(req.bot_auth_token or "")
    if m is None:
        raise RpcError(400, "ACCESS_TOKEN_INVALID")
    bot_id = int(m.group(1))
    users = dc.corpus.users
    if bot_id not in users:
        users[bot_id] = types.User(
            id=bot_id, is_self=True, bot=True, bot_info_version=1,
            access_hash=struct.unpack("<q", hashlib.sha256(req.bot_auth_token.encode())
                                      .digest()[:8])[0],
            first_name="tgarc test bot", username=f"tgarc_test_{bot_id}_bot")
    elif not users[bot_id].bot:
        raise RpcError(400, "ACCESS_TOKEN_INVALID")
    return _log_in(dc, conn, bot_id, bot=True)


@handles(functions.auth.LogOutRequest)
def log_out(dc, conn, req):
    # The key stays known but unauthorized: 401 AUTH_KEY_UNREGISTERED from now on.
    conn.account.user_id = None
    conn.account.bot = False
    return types.auth.LoggedOut()
