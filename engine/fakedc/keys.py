"""The fakedc's RSA key pair, for the server side of the MTProto key exchange.

THIS IS A TEST KEY, generated once with ``openssl genrsa 2048`` for the loopback
server and committed on purpose: it protects nothing.  Telegram's own keys are
built into Telethon; a test makes Telethon trust this one too with
``register_with_telethon()`` (no monkeypatching: ``telethon.crypto.rsa.add_key``
is Telethon's public way to add a server key).
"""

from __future__ import annotations

import struct
from functools import cache
from hashlib import sha1

import rsa

PUBLIC_PEM = """\
-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEAp1guudBPYTVZXGVe8uZNJYe0ids4/89QxB9Wm2viFRkT2Xatov2h
WcN8Cq3ruilDWrl3eEl2ct1+MXQJ8PESiw7jBWwa/ZyR8YAgmJWGq6EwXbk0Tfxe
iQlfdOUe8r/c+Pl5jL6JzsjngxdicJ5Gua1BcMbcIayAq+qBO9cfNBm/5Jks43ew
TLtbdBqtVV+I3Jpu6m2KA6ZaTWbiEl8esrU6yidIvqrMJ30dewNWdn2eEZlNyJ6i
d0b6GCOAhKF4HjvZg3BUHqnCJjLpZoqpirjojgqMn7mekibqT9VNTOpU5oVJrRrk
9bRKrzVYokTBGPK0TkwA2ndTRk7Oz07REQIDAQAB
-----END RSA PUBLIC KEY-----
"""

PRIVATE_PEM = """\
-----BEGIN RSA PRIVATE KEY-----
MIIEpAIBAAKCAQEAp1guudBPYTVZXGVe8uZNJYe0ids4/89QxB9Wm2viFRkT2Xat
ov2hWcN8Cq3ruilDWrl3eEl2ct1+MXQJ8PESiw7jBWwa/ZyR8YAgmJWGq6EwXbk0
TfxeiQlfdOUe8r/c+Pl5jL6JzsjngxdicJ5Gua1BcMbcIayAq+qBO9cfNBm/5Jks
43ewTLtbdBqtVV+I3Jpu6m2KA6ZaTWbiEl8esrU6yidIvqrMJ30dewNWdn2eEZlN
yJ6id0b6GCOAhKF4HjvZg3BUHqnCJjLpZoqpirjojgqMn7mekibqT9VNTOpU5oVJ
rRrk9bRKrzVYokTBGPK0TkwA2ndTRk7Oz07REQIDAQABAoIBAAD0Ox720a8IkHP7
BXetybCONaCoEer+bfPSSGp+KtWrNQ5jM3H3j3MNLuC6NVr0N4S1xDk4tP7KZbjn
NBPOMgh+Kxvprf02ZmwZqoXoK1KA6p9MKiDMMKdIGQXX9Q1V++7k8DUV1IAL6+r2
yApDkrxmARahIZnlC34/aeFzFGPWA+FTHxQCeKiDCdx+3GADY0ahdWuV6GNp5QYw
eylVEhH+ELNMT7OEVKPKIHnVdRtu4dddYMS84tcWTJ0hA0eAaUTeXYlxHQDpiZsT
IxDS3yQbfd/t6q5RKgVhI8f++f50J2H0hhiS3kuQG43Ehj+D5e55/Bu1R3tUpqDe
lb8K7gkCgYEA3F9/Reh3yeiZzwjMSpg7UBfqEKlspousH3ciWF+QU625v+w5JYcc
g9m1d1a84zoO1u1xzpRMSHaIOy0B0g0Lm8dgyTBeanaHma0EUZjb+jp+LY1YUpAk
sDHyhyE5yo2YOIepAbtdVDphSjFkEASPfM6xWR4Arqe9NFaWmdtFaBkCgYEAwmYC
lkvnCGeX6hgTdpwSoyEy3CAPuTIRDfxgj6Z8o2g9jaG2S8KgE0qZeXXxW2pY1d/q
FQIGwdNtgARPkNLBRRDKK5tWz4RN/0kjiKu5KG7iyGr0yO6K2Z6IClu9AXe0NBsX
g5LeHZVHGkVocMHsHhdwJbK6BMiE4FBwyIWaL7kCgYEAkwWXOMGWIXtwGgLpoJ6d
e5roysLtvNMUO03U+RaQiHMvqI5ltdbFPGXjvkF89S/HtLZnJgYkOnfx/WDShRu0
8fH7bV46r1ZysyEN745GvFOH2MYi9bo6793yyxpsnukGdDh1lbU117q3K7N16YXR
YNfY0/bDR8Ka5S8bfHwgewkCgYA7DUnT5hK0VuOq1M10xkxTCY6tl3+vPio4GWYr
vOM3sD6ie3Eo6mI9+fdNEirTHicGMRKmdwsebd9hd+3DjIHxPPxs6q8gMoyO8+S7
a46/XY++Wd8p+mxrVuD0ZJGxlG9FNMWbzk1ypxoGPPdQ6VeUfIIwsW4YbeEPUuAv
yYXg4QKBgQDKHjD2rswCekYrFfpHZ0J9d5MlhbrD5yvwYZ181WWItJz9ojgvFFDr
A8BGwJShEB5b3mtwbMT7GdVn93HbUVyf3SiPvWptGKR2V76qV8eF9JtIqxg7kEHz
Q8cFW0VZcLF8y9m6qtie1udDNcqE7UC5U/7OXKXDf3zlyTNSeen8MQ==
-----END RSA PRIVATE KEY-----
"""


@cache
def private_key() -> rsa.PrivateKey:
    return rsa.PrivateKey.load_pkcs1(PRIVATE_PEM.encode())


def _tl_bytes(data: bytes) -> bytes:
    n = len(data)
    head = bytes([n]) if n < 254 else b"\xfe" + n.to_bytes(3, "little")
    return head + data + b"\0" * (-(len(head) + n) % 4)


def _be(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def fingerprint_of(n: int, e: int) -> int:
    """Telegram's key fingerprint: the low 64 bits of sha1(TL bytes n + TL bytes e)."""
    return struct.unpack("<q", sha1(_tl_bytes(_be(n)) + _tl_bytes(_be(e))).digest()[-8:])[0]


@cache
def fingerprint() -> int:
    key = private_key()
    return fingerprint_of(key.n, key.e)


def register_with_telethon() -> int:
    """Make the installed Telethon accept this server key (idempotent); returns
    its fingerprint."""
    from telethon.crypto import rsa as telethon_rsa

    telethon_rsa.add_key(PUBLIC_PEM, old=False)   # keyed by fingerprint: adding twice is a no-op
    return fingerprint()


# What TGARC_DC_KEY carries (engine/telegram/client.py): the PEM body on one line, the
# base64 of the key's PKCS#1 DER.  The client is handed the key this way instead of
# importing this module, so production code never reaches into the test server.
PUBLIC_KEY_ENV = "".join(PUBLIC_PEM.splitlines()[1:-1])
