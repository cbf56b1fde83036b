"""Logging in to the loopback server from scratch: the real DH key exchange, then
phone code, 2FA (SRP), QR login, bot token and log out — all through the plain
Telethon client over TCP, with the fakedc's test RSA key registered in Telethon."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import struct
import threading

import pytest
import rsa
from telethon import TelegramClient, errors, helpers
from telethon.crypto import AES, AuthKey, Factorization
from telethon.extensions import BinaryReader
from telethon.sessions import StringSession
from telethon.tl import functions, types

from engine.fakedc import handshake, keys
from engine.fakedc.corpus import Corpus
from engine.fakedc.keys import register_with_telethon
from engine.fakedc.server import FakeDC

PHONE = "+1 555 000 1234"
BOT_TOKEN = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"

register_with_telethon()


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def fresh_session(dc) -> StringSession:
    """An empty session pointed at the server: connecting runs the key exchange."""
    session = StringSession()
    session.set_dc(2, "127.0.0.1", dc.port)
    return session


@contextlib.asynccontextmanager
async def client_of(dc, session=None, **kw):
    kw.setdefault("receive_updates", False)
    client = TelegramClient(session or fresh_session(dc), 1, "fakedc-login-test", **kw)
    await asyncio.wait_for(client.connect(), 20)
    try:
        yield client
    finally:
        await client.disconnect()


async def phone_login(client, dc, password="hunter2"):
    await client.sign_in(PHONE)
    try:
        return await client.sign_in(code=dc.login_code)
    except errors.SessionPasswordNeededError:
        return await client.sign_in(password=password)


def test_a_fresh_session_makes_a_key_that_is_not_logged_in():
    async def body():
        async with FakeDC(Corpus(messages=50)) as dc, client_of(dc) as client:
            key = client.session.auth_key
            assert key is not None and len(key.key) in (255, 256)
            account = dc.accounts[key.key_id]
            assert account.user_id is None and not account.revoked
            assert await client.is_user_authorized() is False
            assert await client.get_me() is None
            with pytest.raises(errors.AuthKeyUnregisteredError):
                await client(functions.updates.GetStateRequest())
            # auth.* and help.* work before login
            config = await client(functions.help.GetConfigRequest())
            assert config.this_dc == 2
    run(body())


def test_phone_code_then_2fa_password_and_the_saved_session_works_later():
    async def body():
        async with FakeDC(Corpus(messages=50)) as dc:
            async with client_of(dc) as client:
                sent = await client.sign_in(PHONE)
                assert isinstance(sent, types.auth.SentCode) and sent.phone_code_hash
                with pytest.raises(errors.PhoneCodeInvalidError):
                    await client.sign_in(code="99999")
                with pytest.raises(errors.SessionPasswordNeededError):
                    await client.sign_in(code=dc.login_code)
                assert await client.is_user_authorized() is False
                with pytest.raises(errors.PasswordHashInvalidError):
                    await client.sign_in(password="hunter3")
                me = await client.sign_in(password="hunter2")
                assert (me.id, me.username, me.phone) == (Corpus.ME, "archivist", "15550001234")
                assert await client.is_user_authorized() is True
                assert (await client.get_me()).id == Corpus.ME
                saved = client.session.save()
            async with client_of(dc, StringSession(saved)) as again:
                assert (await again.get_me()).username == "archivist"
                msgs = await again.get_messages("tgarc_demo", limit=3)
                assert len(msgs) == 3
    run(body())


def test_without_2fa_the_code_is_enough_and_bad_phones_are_refused():
    async def body():
        async with FakeDC(Corpus(messages=10)) as dc, client_of(dc) as client:
            dc.password = None
            with pytest.raises(errors.PhoneNumberInvalidError):
                await client.sign_in("+1 555 999 0000")
            await client.sign_in(PHONE)
            me = await client.sign_in(code=dc.login_code)
            assert me.id == Corpus.ME and await client.is_user_authorized()
            pw = await client(functions.account.GetPasswordRequest())
            assert pw.has_password is False
    run(body())


@pytest.mark.parametrize("two_fa", [False, True])
def test_qr_login(two_fa):
    async def body():
        async with FakeDC(Corpus(messages=10)) as dc, \
                client_of(dc, receive_updates=True) as client:
            if not two_fa:
                dc.password = None
            qr = await client.qr_login()
            assert qr.url.startswith("tg://login?token=")
            again = await client(functions.auth.ExportLoginTokenRequest(1, "x", []))
            assert isinstance(again, types.auth.LoginToken)     # not scanned yet
            waiting = asyncio.ensure_future(qr.wait(10))
            await asyncio.sleep(0.05)
            dc.scan_qr(qr.token)
            if two_fa:
                with pytest.raises(errors.SessionPasswordNeededError):
                    await waiting
                assert await client.is_user_authorized() is False
                me = await client.sign_in(password="hunter2")
            else:
                me = await waiting
            assert me.id == Corpus.ME
            assert (await client.get_me()).username == "archivist"
    run(body())


def test_qr_scan_from_another_thread_of_a_threaded_server():
    dc = FakeDC(Corpus(messages=10))
    dc.password = None
    with dc.run_in_thread():
        async def body():
            async with client_of(dc, receive_updates=True) as client:
                qr = await client.qr_login()
                waiting = asyncio.ensure_future(qr.wait(10))
                await asyncio.sleep(0.05)
                scanner = threading.Thread(target=dc.scan_qr, args=(qr.token,))
                scanner.start()
                me = await waiting
                scanner.join(5)
                assert me.id == Corpus.ME
                with pytest.raises(errors.AuthTokenExpiredError):
                    await client(functions.auth.ImportLoginTokenRequest(b"nonsense"))
        run(body())


def test_bot_token_login_and_bots_cannot_read_history():
    async def body():
        async with FakeDC(Corpus(messages=10)) as dc, client_of(dc) as client:
            with pytest.raises(errors.AccessTokenInvalidError):
                await client.sign_in(bot_token="not-a-token")
            me = await client.sign_in(bot_token=BOT_TOKEN)
            assert me.bot and me.id == 123456
            again = await client.get_me()
            assert again.bot is True and again.id == 123456
            assert dc.accounts[client.session.auth_key.key_id].bot
            with pytest.raises(errors.BotMethodInvalidError):
                await client.get_messages("tgarc_demo", limit=5)
    run(body())


def test_log_out_unregisters_the_key():
    async def body():
        async with FakeDC(Corpus(messages=10)) as dc:
            dc.password = None
            async with client_of(dc) as client:
                await phone_login(client, dc)
                saved = client.session.save()
                assert await client.log_out() is True
            async with client_of(dc, StringSession(saved)) as stale:
                assert await stale.is_user_authorized() is False
                with pytest.raises(errors.AuthKeyUnregisteredError):
                    await stale(functions.updates.GetStateRequest())
    run(body())


# ---- the key exchange driven by hand (RSA_PAD, and tampering) ------------------------------
class RawPlain:
    """Unencrypted MTProto over the intermediate transport, by hand."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, dc):
        reader, writer = await asyncio.open_connection("127.0.0.1", dc.port)
        writer.write(b"\xee" * 4)
        return cls(reader, writer)

    async def send(self, request):
        body = bytes(request)
        packet = struct.pack("<qqi", 0, 0x5F00000000000000 + os.getpid() * 4, len(body)) + body
        self.writer.write(struct.pack("<i", len(packet)) + packet)
        n = struct.unpack("<i", await self.reader.readexactly(4))[0]
        data = await asyncio.wait_for(self.reader.readexactly(n), 5)
        if n == 4:
            return struct.unpack("<i", data)[0]          # transport error
        assert data[:8] == bytes(8)
        return BinaryReader(data[20:]).tgread_object()

    def close(self):
        self.writer.close()


def rsa_pad_encrypt(data: bytes, key: rsa.PublicKey) -> bytes:
    """RSA_PAD as https://core.telegram.org/mtproto/auth_key describes it."""
    data_with_padding = data + os.urandom(192 - len(data))
    while True:
        temp_key = os.urandom(32)
        data_with_hash = data_with_padding[::-1] + hashlib.sha256(temp_key
                                                                  + data_with_padding).digest()
        aes_encrypted = AES.encrypt_ige(data_with_hash, temp_key, bytes(32))
        xor = bytes(a ^ b for a, b in zip(temp_key, hashlib.sha256(aes_encrypted).digest(),
                                          strict=True))
        m = int.from_bytes(xor + aes_encrypted, "big")
        if m < key.n:
            return pow(m, key.e, key.n).to_bytes(256, "big")


async def start_exchange(raw):
    nonce = int.from_bytes(os.urandom(16), "little", signed=True)
    res_pq = await raw.send(functions.ReqPqMultiRequest(nonce))
    assert isinstance(res_pq, types.ResPQ) and res_pq.nonce == nonce
    assert res_pq.server_public_key_fingerprints == [keys.fingerprint()]
    pq = int.from_bytes(res_pq.pq, "big")
    p, q = Factorization.factorize(pq)
    new_nonce = int.from_bytes(os.urandom(32), "little", signed=True)
    inner = types.PQInnerDataDc(pq=res_pq.pq, p=handshake.be(p), q=handshake.be(q), nonce=nonce,
                                server_nonce=res_pq.server_nonce, new_nonce=new_nonce, dc=2)
    pub = rsa.PublicKey.load_pkcs1(keys.PUBLIC_PEM.encode())
    req = functions.ReqDHParamsRequest(
        nonce=nonce, server_nonce=res_pq.server_nonce, p=handshake.be(p), q=handshake.be(q),
        public_key_fingerprint=keys.fingerprint(),
        encrypted_data=rsa_pad_encrypt(bytes(inner), pub))
    return req, new_nonce


def test_rsa_pad_exchange_by_hand_makes_a_key_telethon_can_use():
    async def body():
        async with FakeDC(Corpus(messages=10)) as dc:
            raw = await RawPlain.open(dc)
            req, new_nonce = await start_exchange(raw)
            params = await raw.send(req)
            assert isinstance(params, types.ServerDHParamsOk)
            key, iv = helpers.generate_key_data_from_nonce(req.server_nonce, new_nonce)
            plain = AES.decrypt_ige(params.encrypted_answer, key, iv)
            reader = BinaryReader(plain[20:])
            inner = reader.tgread_object()
            assert hashlib.sha1(plain[20 : 20 + reader.tell_position()]).digest() == plain[:20]
            assert isinstance(inner, types.ServerDHInnerData) and inner.g == 3
            prime = int.from_bytes(inner.dh_prime, "big")
            assert prime == handshake.DH_PRIME
            b = int.from_bytes(os.urandom(256), "big")
            client_inner = bytes(types.ClientDHInnerData(
                nonce=req.nonce, server_nonce=req.server_nonce, retry_id=0,
                g_b=handshake.be(pow(3, b, prime))))
            data = hashlib.sha1(client_inner).digest() + client_inner
            data += os.urandom(-len(data) % 16)
            gen = await raw.send(functions.SetClientDHParamsRequest(
                nonce=req.nonce, server_nonce=req.server_nonce,
                encrypted_data=AES.encrypt_ige(data, key, iv)))
            assert isinstance(gen, types.DhGenOk)
            auth_key = AuthKey(handshake.be(pow(int.from_bytes(inner.g_a, "big"), b, prime)))
            assert gen.new_nonce_hash1 == auth_key.calc_new_nonce_hash(new_nonce, 1)
            assert dc.accounts[auth_key.key_id].user_id is None
            raw.close()
            # the hand-made key is a working (not yet logged-in) key for Telethon
            session = fresh_session(dc)
            session.auth_key = auth_key
            async with client_of(dc, session) as client:
                assert await client.is_user_authorized() is False
                assert (await client.sign_in(bot_token=BOT_TOKEN)).bot
    run(body())


@pytest.mark.parametrize("tamper", ["fingerprint", "ciphertext", "factors", "server_nonce"])
def test_a_tampered_req_dh_params_is_refused(tamper):
    async def body():
        async with FakeDC(Corpus(messages=10)) as dc:
            raw = await RawPlain.open(dc)
            req, _ = await start_exchange(raw)
            if tamper == "fingerprint":
                req.public_key_fingerprint ^= 1
            elif tamper == "ciphertext":
                blob = bytearray(req.encrypted_data)
                blob[100] ^= 0x40
                req.encrypted_data = bytes(blob)
            elif tamper == "factors":
                req.p, req.q = req.q, req.p
            else:
                req.server_nonce ^= 1
            accounts = dict(dc.accounts)
            assert await raw.send(req) == -404
            assert dc.accounts == accounts
            raw.close()
    run(body())


def test_a_set_client_dh_params_with_a_bad_hash_is_refused():
    async def body():
        async with FakeDC(Corpus(messages=10)) as dc:
            raw = await RawPlain.open(dc)
            req, new_nonce = await start_exchange(raw)
            assert isinstance(await raw.send(req), types.ServerDHParamsOk)
            key, iv = helpers.generate_key_data_from_nonce(req.server_nonce, new_nonce)
            client_inner = bytes(types.ClientDHInnerData(
                nonce=req.nonce, server_nonce=req.server_nonce, retry_id=0,
                g_b=handshake.be(pow(3, 12345 << 2000, handshake.DH_PRIME))))
            data = bytes(20) + client_inner                  # zero "hash"
            data += bytes(-len(data) % 16)
            answer = await raw.send(functions.SetClientDHParamsRequest(
                nonce=req.nonce, server_nonce=req.server_nonce,
                encrypted_data=AES.encrypt_ige(data, key, iv)))
            assert answer == -404 and dc.accounts == {}
            raw.close()
    run(body())


def test_a_key_a_string_session_cannot_carry_is_refused_with_dh_gen_retry():
    """g^ab with a leading zero byte: Telethon keeps 255 bytes, a StringSession saves 256
    (padded at the end), so that session would name an unknown key. The server asks for
    a new exchange instead and registers nothing; a full-length key is registered."""
    class Conn:
        dc = FakeDC(Corpus(messages=10))
        dc_id = 2           # the DC the key is made on

    st = handshake._DH(nonce=1, server_nonce=2, pq=15, new_nonce=3)
    short = b"\x01" + os.urandom(254)
    retry = handshake.finish(Conn, st, short)
    assert isinstance(retry, types.DhGenRetry)
    assert retry.new_nonce_hash2 == AuthKey(short).calc_new_nonce_hash(3, 2)
    assert Conn.dc.accounts == {}
    full = b"\x01" + os.urandom(255)
    ok = handshake.finish(Conn, st, full)
    assert isinstance(ok, types.DhGenOk)
    assert list(Conn.dc.accounts) == [AuthKey(full).key_id]
    # the key a StringSession carries is the registered one
    s = StringSession()
    s.set_dc(2, "127.0.0.1", 1)
    s.auth_key = AuthKey(full)
    assert StringSession(s.save()).auth_key.key_id in Conn.dc.accounts
