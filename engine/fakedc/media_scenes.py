"""What the fake DC's media show and sound like, seeded: pictures (a gradient with a disc and
a bar that move, a sticker's discs on transparency) as packed pixel bytes, and two-note tones
as 16-bit samples.  Plain Python (no numpy): a frame is assembled row by row from ``bytes``
multiplication and splices, fast enough for these sizes.  engine/fakedc/media_encode.py and
media.py encode them.
"""

from __future__ import annotations

import math
import random


def seeded_rng(seed: int, salt: str) -> random.Random:
    # A string seed is hashed with sha512 by random.Random: stable across runs and processes
    # (unlike hash()), and distinct per generator so photo 1 and sticker 1 do not share colours.
    return random.Random(f"tgarc-fakedc-media:{salt}:{seed}")


def colour(rng: random.Random, lo: int = 30, hi: int = 225) -> tuple[int, int, int]:
    return (rng.randint(lo, hi), rng.randint(lo, hi), rng.randint(lo, hi))


def even(name: str, value: int) -> int:
    if value < 16 or value % 2:
        raise ValueError(f"{name} must be an even number >= 16 (yuv420p), got {value}")
    return value


def positive(name: str, value: float) -> float:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def splice(row: bytearray, x0: int, x1: int, pixel: bytes, width: int) -> None:
    """Paints pixels [x0, x1) of ``row`` (clipped to the row) with ``pixel``."""
    x0, x1 = max(0, x0), min(width, x1)
    if x1 > x0:
        n = len(pixel)
        row[x0 * n : x1 * n] = pixel * (x1 - x0)


class Scene:
    """A seed's picture: a vertical two-colour gradient, a disc and a bar, each of which can move.

    ``frame(t)`` with ``t`` in [0, 1) gives one rgb24 image; moving the disc and the bar with ``t``
    makes the video frames differ, so the encoder has real (but cheap) motion to code.
    """

    def __init__(self, seed: int, salt: str, width: int, height: int) -> None:
        rng = seeded_rng(seed, salt)
        self.width, self.height = width, height
        top, bottom = colour(rng), colour(rng)
        self.rows = [
            bytes(
                round(a + (b - a) * y / max(1, height - 1))
                for a, b in zip(top, bottom, strict=True)
            )
            * width
            for y in range(height)
        ]
        self.disc = bytes(colour(rng, 0, 255))
        self.bar = bytes(colour(rng, 0, 255))
        self.radius = max(4, int(min(width, height) * rng.uniform(0.18, 0.3)))
        self.cx = rng.uniform(0.3, 0.7)
        self.cy = rng.uniform(0.3, 0.7)
        self.phase = rng.random()
        self.bar_w = max(2, width // rng.randint(8, 14))

    def frame(self, t: float = 0.0) -> bytes:
        w, h, r = self.width, self.height, self.radius
        angle = 2 * math.pi * (t + self.phase)
        cx = int(w * self.cx + 0.15 * w * math.cos(angle))
        cy = int(h * self.cy + 0.15 * h * math.sin(angle))
        bx = int((w + self.bar_w) * ((t + self.phase) % 1.0)) - self.bar_w
        out = bytearray()
        for y, base in enumerate(self.rows):
            row = bytearray(base)
            splice(row, bx, bx + self.bar_w, self.bar, w)
            dy = y - cy
            if -r <= dy <= r:
                half = int(math.sqrt(r * r - dy * dy))
                splice(row, cx - half, cx + half + 1, self.disc, w)
            out += row
        return bytes(out)


def sticker_rgba(seed: int, size: int) -> bytes:
    """A sticker: transparent background, an opaque disc with a ring and an off-centre blob."""
    rng = seeded_rng(seed, "sticker")
    fill, ring, blob = (bytes((*colour(rng, 0, 255), 255)) for _ in range(3))
    clear = b"\x00\x00\x00\x00"
    c = size / 2
    r_out = size * rng.uniform(0.42, 0.48)
    r_in = r_out * rng.uniform(0.8, 0.9)
    bx, by = c + size * rng.uniform(-0.15, 0.15), c + size * rng.uniform(-0.15, 0.15)
    br = size * rng.uniform(0.1, 0.2)
    out = bytearray()
    for y in range(size):
        row = bytearray(clear * size)
        dy = y + 0.5 - c
        if abs(dy) <= r_out:
            half = math.sqrt(r_out * r_out - dy * dy)
            splice(row, round(c - half), round(c + half), ring, size)
        if abs(dy) <= r_in:
            half = math.sqrt(r_in * r_in - dy * dy)
            splice(row, round(c - half), round(c + half), fill, size)
        dy = y + 0.5 - by
        if abs(dy) <= br:
            half = math.sqrt(br * br - dy * dy)
            splice(row, round(bx - half), round(bx + half), blob, size)
        out += row
    return bytes(out)




def tone(seed: int, salt: str, rate: int, seconds: float) -> list[int]:
    """A seed-dependent two-note tone with a short fade in/out, as signed 16-bit samples."""
    rng = seeded_rng(seed, salt)
    f1 = rng.uniform(200.0, 500.0)  # continuous, so no two seeds share a tone
    f2 = f1 * rng.choice((1.25, 1.3348, 1.5))  # up a major third, a fourth or a fifth
    n = max(1, round(rate * seconds))
    amp, half = rng.randint(8000, 14000), n // 2
    sin = math.sin
    w1, w2 = 2 * math.pi * f1 / rate, 2 * math.pi * f2 / rate
    samples = [amp * sin(w1 * i) for i in range(half)]
    samples += [amp * sin(w2 * i) for i in range(half, n)]
    fade = max(1, min(n // 4, rate // 50))  # 20 ms ramps: no click at the ends
    for i in range(min(fade, n)):
        samples[i] *= i / fade
        samples[n - 1 - i] *= i / fade
    return [int(x) for x in samples]
