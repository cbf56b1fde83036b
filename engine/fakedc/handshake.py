"""The server side of MTProto's auth key exchange (unencrypted messages, auth_key_id 0).

    req_pq_multi        -> resPQ (pq = p*q, two random ~31-bit primes; our key's fingerprint)
    req_DH_params       -> server_DH_params_ok (server_DH_inner_data, AES-IGE under keys
                           derived from new_nonce and server_nonce)
    set_client_DH_params -> dh_gen_ok; the new key joins ``dc.accounts`` with no user

The RSA-encrypted ``p_q_inner_data`` is accepted in both schemes: RSA_PAD (what
Telegram documents and current official clients send) and the older
``sha1(data) + data + padding`` one, which is what Telethon 1.45 still sends.
Anything that does not check out is answered like Telegram answers an unknown key:
transport error -404.

Every object is built and parsed with Telethon's generated TL classes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import time
import weakref
from dataclasses import dataclass

import rsa.prime
from telethon.crypto import AES, AuthKey
from telethon.extensions import BinaryReader
from telethon.tl import functions, types

from . import keys
from .accounts import Account

log = logging.getLogger("engine.fakedc.handshake")

# Telegram's 2048-bit safe prime (the one Telethon's password.py knows as "good"), g = 3.
DH_PRIME = int.from_bytes(bytes.fromhex(
    "C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F"
    "48198A0AA7C14058229493D22530F4DBFA336F6E0AC925139543AED44CCE7C37"
    "20FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F64"
    "2477FE96BB2A941D5BCD1D4AC8CC49880708FA9B378E3C4F3A9060BEE67CF9A4"
    "A4A695811051907E162753B56B0F6B410DBA74D8A84B2A14B3144E0EF1284754"
    "FD17ED950D5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4"
    "E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850CE929851F"
    "0D8115F635B105EE2E4E15D04B2454BF6F4FADF034B10403119CD8E3B92FCC5B"), "big")
DH_G = 3
SAFETY = 2 ** (2048 - 64)      # g_a and g_b must lie in [SAFETY, p - SAFETY]

PQ_TYPES = (types.PQInnerData, types.PQInnerDataDc, types.PQInnerDataTemp,
            types.PQInnerDataTempDc)


class HandshakeError(Exception):
    """The client's step does not check out: the server answers transport error -404."""


@dataclass
class _DH:
    nonce: int
    server_nonce: int
    pq: int
    p: int = 0
    q: int = 0
    new_nonce: int = 0
    a: int = 0
    temp_expires: int | None = None    # seconds, for a temporary (PFS) key


# pending exchanges, per connection (a client may run one exchange per connection)
_pending: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def be(n: int, size: int | None = None) -> bytes:
    """Big-endian bytes of ``n``, minimal length unless ``size`` (how Telethon writes them)."""
    return n.to_bytes(size or (n.bit_length() + 7) // 8, "big")


def nonce_bytes(nonce: int, size: int) -> bytes:
    return nonce.to_bytes(size, "little", signed=True)


def tmp_aes(server_nonce: int, new_nonce: int) -> tuple[bytes, bytes]:
    """The AES key and IV that wrap server_DH_inner_data and client_DH_inner_data."""
    sn, nn = nonce_bytes(server_nonce, 16), nonce_bytes(new_nonce, 32)
    h1 = hashlib.sha1(nn + sn).digest()
    h2 = hashlib.sha1(sn + nn).digest()
    h3 = hashlib.sha1(nn + nn).digest()
    return h1 + h2[:12], h2[12:20] + h3 + nn[:4]


def plain_frame(msg_id: int, body: bytes) -> bytes:
    return struct.pack("<qqi", 0, msg_id, len(body)) + body


# ---- RSA ----------------------------------------------------------------------------------
def rsa_decrypt_inner(encrypted: bytes):
    """Decrypt req_DH_params.encrypted_data with the test key; return the parsed
    p_q_inner_data, or raise HandshakeError."""
    key = keys.private_key()
    c = int.from_bytes(encrypted, "big")
    if len(encrypted) != 256 or c >= key.n:
        raise HandshakeError("encrypted_data is not a 2048-bit RSA block")
    m = be(pow(c, key.d, key.n), 256)
    inner = _rsa_pad_open(m)
    if inner is None:
        inner = _sha1_pad_open(m)
    if inner is None:
        raise HandshakeError("p_q_inner_data hash does not check out")
    return inner


def _rsa_pad_open(m: bytes):
    """RSA_PAD: m = temp_key_xor (32) | AES-IGE(reversed(data+pad) | sha256(temp_key+data+pad))."""
    temp_key_xor, aes_encrypted = m[:32], m[32:]
    temp_key = bytes(a ^ b for a, b in zip(temp_key_xor, hashlib.sha256(aes_encrypted).digest(),
                                           strict=True))
    data_with_hash = AES.decrypt_ige(aes_encrypted, temp_key, bytes(32))
    data_with_padding = data_with_hash[:192][::-1]
    if hashlib.sha256(temp_key + data_with_padding).digest() != data_with_hash[192:]:
        return None
    return _parse(data_with_padding)


def _sha1_pad_open(m: bytes):
    """The older scheme Telethon uses: m = 0 | sha1(data) | data | random padding."""
    if m[0] != 0:
        return None
    digest, rest = m[1:21], m[21:]
    reader = BinaryReader(rest)
    try:
        obj = reader.tgread_object()
    except Exception:
        return None
    if hashlib.sha1(rest[: reader.tell_position()]).digest() != digest:
        return None
    return obj


def _parse(data: bytes):
    try:
        return BinaryReader(data).tgread_object()
    except Exception:
        return None


# ---- the exchange ---------------------------------------------------------------------------
def on_plain_packet(conn, packet: bytes) -> None:
    """Answer one unencrypted packet (``auth_key_id = 0 | msg_id | length | body``)."""
    try:
        if len(packet) < 20:
            raise HandshakeError("short unencrypted message")
        length = struct.unpack("<i", packet[16:20])[0]
        body = packet[20 : 20 + length]
        try:
            request = BinaryReader(body).tgread_object()
        except Exception as exc:
            raise HandshakeError(f"unparsable unencrypted message: {exc}") from exc
        answer = _step(conn, request)
    except HandshakeError as exc:
        log.info("fakedc: key exchange refused: %s", exc)
        conn._transport_error(-404)
        return
    conn.writer.write(conn.framing.frame(plain_frame(conn._msg_id(True), answer._bytes())))


def _step(conn, request):
    pending = _pending.setdefault(conn, {})
    if isinstance(request, (functions.ReqPqMultiRequest, functions.ReqPqRequest)):
        return _res_pq(pending, request)
    if isinstance(request, functions.ReqDHParamsRequest):
        return _server_dh_params(conn, pending, request)
    if isinstance(request, functions.SetClientDHParamsRequest):
        return _dh_gen(conn, pending, request)
    raise HandshakeError(f"{type(request).__name__} is not part of the key exchange")


def _res_pq(pending: dict, req):
    p, q = sorted((rsa.prime.getprime(31), rsa.prime.getprime(31)))
    while p == q:
        q = rsa.prime.getprime(31)
        p, q = sorted((p, q))
    server_nonce = int.from_bytes(os.urandom(16), "little", signed=True)
    while len(pending) >= 4:                 # a client restarting forever stays bounded
        pending.pop(next(iter(pending)))
    pending[server_nonce] = _DH(nonce=req.nonce, server_nonce=server_nonce, pq=p * q, p=p, q=q)
    return types.ResPQ(nonce=req.nonce, server_nonce=server_nonce, pq=be(p * q),
                       server_public_key_fingerprints=[keys.fingerprint()])


def _state(pending: dict, req) -> _DH:
    st = pending.get(req.server_nonce)
    if st is None or st.nonce != req.nonce:
        raise HandshakeError("unknown nonce/server_nonce")
    return st


def _server_dh_params(conn, pending: dict, req):
    st = _state(pending, req)
    if req.public_key_fingerprint != keys.fingerprint():
        raise HandshakeError(f"unknown RSA fingerprint {req.public_key_fingerprint}")
    if int.from_bytes(req.p, "big") != st.p or int.from_bytes(req.q, "big") != st.q:
        raise HandshakeError("p, q do not factor pq")
    inner = rsa_decrypt_inner(req.encrypted_data)
    if not isinstance(inner, PQ_TYPES):
        raise HandshakeError(f"encrypted_data holds {type(inner).__name__}")
    if (inner.nonce, inner.server_nonce) != (st.nonce, st.server_nonce) \
            or int.from_bytes(inner.pq, "big") != st.pq \
            or (int.from_bytes(inner.p, "big"), int.from_bytes(inner.q, "big")) != (st.p, st.q):
        raise HandshakeError("p_q_inner_data does not match the exchange")
    # a p_q_inner_data_dc names the DC it is sent to (negative: a test DC)
    if getattr(inner, "dc", conn.dc_id) not in (conn.dc_id, -conn.dc_id):
        raise HandshakeError(f"p_q_inner_data_dc names dc {inner.dc}")
    st.new_nonce = inner.new_nonce
    st.temp_expires = getattr(inner, "expires_in", None)
    while True:
        st.a = int.from_bytes(os.urandom(256), "big")
        g_a = pow(DH_G, st.a, DH_PRIME)
        if SAFETY <= g_a <= DH_PRIME - SAFETY:
            break
    answer = types.ServerDHInnerData(
        nonce=st.nonce, server_nonce=st.server_nonce, g=DH_G, dh_prime=be(DH_PRIME, 256),
        g_a=be(g_a, 256), server_time=int(time.time()))._bytes()
    with_hash = hashlib.sha1(answer).digest() + answer
    with_hash += os.urandom(-len(with_hash) % 16)
    key, iv = tmp_aes(st.server_nonce, st.new_nonce)
    return types.ServerDHParamsOk(nonce=st.nonce, server_nonce=st.server_nonce,
                                  encrypted_answer=AES.encrypt_ige(with_hash, key, iv))


def _dh_gen(conn, pending: dict, req):
    st = _state(pending, req)
    if not st.a:
        raise HandshakeError("set_client_DH_params before req_DH_params")
    key, iv = tmp_aes(st.server_nonce, st.new_nonce)
    if len(req.encrypted_data) % 16:
        raise HandshakeError("client_DH_inner_data is not whole AES blocks")
    plain = AES.decrypt_ige(req.encrypted_data, key, iv)
    reader = BinaryReader(plain[20:])
    try:
        inner = reader.tgread_object()
    except Exception as exc:
        raise HandshakeError(f"unparsable client_DH_inner_data: {exc}") from exc
    if hashlib.sha1(plain[20 : 20 + reader.tell_position()]).digest() != plain[:20] \
            or not isinstance(inner, types.ClientDHInnerData):
        raise HandshakeError("client_DH_inner_data hash does not check out")
    if (inner.nonce, inner.server_nonce) != (st.nonce, st.server_nonce):
        raise HandshakeError("client_DH_inner_data nonces do not match")
    g_b = int.from_bytes(inner.g_b, "big")
    if not SAFETY <= g_b <= DH_PRIME - SAFETY:
        raise HandshakeError("g_b out of range")
    del pending[st.server_nonce]
    # Telethon keeps the key as the *minimal* big-endian bytes of g^ab (255 bytes in
    # 1 case of 256); do the same, or the two sides would disagree on the key.
    return finish(conn, st, be(pow(g_b, st.a, DH_PRIME)))


def finish(conn, st: _DH, auth_key: bytes):
    """dh_gen_ok with the new key registered, or dh_gen_retry for a key shorter than 256
    bytes: Telethon keeps such a key as 255 bytes but a StringSession stores it padded
    to 256 at the end, so the saved session would name a key nobody has (1 exchange in
    256); the retry makes the client run the exchange again."""
    if len(auth_key) < 256:
        return types.DhGenRetry(nonce=st.nonce, server_nonce=st.server_nonce,
                                new_nonce_hash2=AuthKey(auth_key).calc_new_nonce_hash(
                                    st.new_nonce, 2))
    account = Account(auth_key, user_id=None, dc_id=conn.dc_id)
    conn.dc.accounts[account.key_id] = account
    log.info("fakedc: new auth key %016x%s", account.key_id,
             f" (temporary, {st.temp_expires} s)" if st.temp_expires else "")
    return types.DhGenOk(nonce=st.nonce, server_nonce=st.server_nonce,
                         new_nonce_hash1=AuthKey(auth_key).calc_new_nonce_hash(st.new_nonce, 1))
