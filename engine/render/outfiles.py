"""A chat's stream outputs as the assembly writes them (assemble.py, topic_views.py).

- ``ResultDoc``: result.json written beside its final name and renamed over it once
  complete (``atomic.Output``: nothing half-written is ever seen under the real name).
- ``ResultTail``: result.json extended in place after the last message (or, from the
  empty document, replaced by its first fragments).
- ``Appending``: messages.jsonl appended to after the bytes the last assembly left.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from engine import model as m
from engine.archive.atomic import Output
from engine.render import result_json

_MARK = b"\x00tgarc-messages\x00"


class ResultDoc(Output):
    """result.json streamed: its head, the fragments one message a line, its tail; head and
    tail are cut from the renderer's own ``document`` so the two never disagree."""

    def __init__(self, path: Path, meta, info: m.PeerInfo):
        super().__init__(path)
        doc = result_json.document(info, meta.kind, [_MARK], meta.me)
        head, self.tail = doc.split(_MARK)
        self.empty = result_json.document(info, meta.kind, [], meta.me)
        self.first = True
        self.f.write(head)

    def add(self, frags: list[bytes]) -> None:
        if frags:
            self.f.write(b",\n  ".join(frags) if self.first else
                         b",\n  " + b",\n  ".join(frags))
            self.first = False

    def commit(self) -> None:
        if self.first:                # no messages: the document has an empty list
            self.f.seek(0)
            self.f.truncate()
            self.f.write(self.empty)
        else:
            self.f.write(self.tail)
        super().commit()


class ResultTail:
    """result.json extended in place: its tail (`` ]`` and ``}``) cut off, the new fragments
    and the tail written after the last message. ``open`` refuses (None) a file that is
    not what the last assembly left (its size, head and tail); ``abort`` puts the old tail
    back. A crash in between leaves a file the checkpoint does not vouch for (its size
    differs): the next run writes it whole."""

    def __init__(self, f, head: bytes, tail: bytes, size: int, mtime_ns: int,
                 empty: bytes | None = None):
        """``empty``: the file is the document without a message (a topic none of whose
        messages is left): the first fragments replace it whole, head first."""
        self.f, self.head, self.tail, self.size, self.empty = f, head, tail, size, empty
        self.at = 0 if empty is not None else size - len(tail)
        self.kept = (size, mtime_ns, self.at)      # Assembled.kept
        f.seek(self.at)

    @classmethod
    def open(cls, path: Path, meta, info: m.PeerInfo, size: int) -> ResultTail | None:
        head, tail = result_json.document(info, meta.kind, [_MARK], meta.me).split(_MARK)
        try:
            f = open(path, "r+b")  # noqa: SIM115 - closed in commit/abort
        except OSError:
            return None
        st = os.fstat(f.fileno())
        empty = result_json.document(info, meta.kind, [], meta.me)
        if st.st_size == size == len(empty) and f.read() == empty:
            return cls(f, head, tail, size, st.st_mtime_ns, empty)
        f.seek(0)
        ok = st.st_size == size and size > len(head) + len(tail) and f.read(len(head)) == head
        if ok:
            f.seek(size - len(tail))
            ok = f.read() == tail
        if not ok:
            f.close()
            return None
        return cls(f, head, tail, size, st.st_mtime_ns)

    def add(self, frags: list[bytes]) -> None:
        if frags:
            first = self.empty is not None and not self.added
            self.f.write((self.head if first else b",\n  ") + b",\n  ".join(frags))
            self.added = True

    added = False

    def commit(self) -> None:
        """Nothing added: the file is left alone (its mtime too)."""
        if self.added:
            self.f.write(self.tail)
            self.f.truncate()
            self.f.flush()
            os.fsync(self.f.fileno())
        self.f.close()

    def abort(self) -> None:
        if self.f.closed:
            return
        if self.added:
            with contextlib.suppress(OSError):
                self.f.seek(self.at)
                self.f.write(self.tail if self.empty is None else self.empty)
                self.f.truncate()
        self.f.close()


class Appending:
    """A file appended to after its first ``size`` bytes (what the last assembly left:
    ``open`` refuses any other length); ``abort`` cuts it back."""

    def __init__(self, f, size: int, mtime_ns: int):
        self.f, self.size = f, size
        self.kept = (size, mtime_ns, size)         # Assembled.kept
        f.seek(size)

    @classmethod
    def open(cls, path: Path, size: int) -> Appending | None:
        try:
            f = open(path, "r+b")  # noqa: SIM115 - closed in commit/abort
        except OSError:
            return None
        st = os.fstat(f.fileno())
        if st.st_size != size:
            f.close()
            return None
        return cls(f, size, st.st_mtime_ns)

    def commit(self) -> None:
        if self.f.tell() != self.size:
            self.f.flush()
            os.fsync(self.f.fileno())
        self.f.close()

    def abort(self) -> None:
        if not self.f.closed:
            if self.f.tell() != self.size:
                with contextlib.suppress(OSError):
                    self.f.truncate(self.size)
            self.f.close()
