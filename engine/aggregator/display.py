"""Live progress on stderr: a rich line on a terminal, JSON lines otherwise, or nothing."""

from __future__ import annotations

import sys
from collections import deque

import orjson

from .metrics import duration, summary_lines

RATE_WINDOW = 10.0      # seconds of history behind the displayed rate and ETA
MIB = float(1 << 20)


class Rate:
    """Messages per second over the last RATE_WINDOW seconds."""

    def __init__(self, start: float | None = None):
        self._points: deque[tuple[float, int]] = deque()
        if start is not None:
            self._points.append((start, 0))

    def update(self, now: float, messages: int) -> float:
        pts = self._points
        pts.append((now, messages))
        while len(pts) > 2 and now - pts[1][0] >= RATE_WINDOW:
            pts.popleft()
        t0, m0 = pts[0]
        return (messages - m0) / (now - t0) if now > t0 else 0.0


def eta(done: int, total: int, rate: float) -> float | None:
    if total <= 0:
        return None
    if done >= total:
        return 0.0
    return (total - done) / rate if rate > 0 else None


class Display:
    """Base: "off" shows nothing at all. ``start``: monotonic time the run started."""

    def __init__(self, start: float | None = None):
        self.rate = Rate(start)
        self.media_rate: Rate | None = None     # bytes/s of the media pass under way

    def media(self, fold, now: float) -> dict | None:
        """While a media pass runs: the run's media bytes done / total, MB/s over the last
        RATE_WINDOW seconds of this pass, and the ETA; else None (and the rate restarts)."""
        md = fold.media_active()
        if md is None:
            self.media_rate = None
            return None
        if self.media_rate is None:
            self.media_rate = Rate()
        rate = self.media_rate.update(now, md.bytes_done)
        e = eta(md.bytes_done, md.bytes_total, rate)
        got = {"files": md.files, "failed": md.failed, "bytes_done": md.bytes_done,
               "bytes_total": md.bytes_total, "mb_per_second": round(rate / MIB, 2),
               "eta_s": None if e is None else round(e, 1)}
        if md.hwaccel is not None:           # --transcode: the copies so far, of those wanted
            got["copies"] = md.transcoded + md.transcode_linked + md.transcode_failed
            got["copies_wanted"] = md.transcode_wanted
        return got

    def tick(self, fold, now: float) -> None:
        pass

    def chat_done(self, ev, fold) -> None:
        """One chat of the run ended (``ev``: events.ChatDone)."""

    @staticmethod
    def chats(fold) -> dict | None:
        """A run of several chats: how many ended, of how many (None: a one-chat run)."""
        total = max(fold.chats_total, len(fold.chats))
        return {"done": len(fold.chats), "total": total} if total > 1 else None

    def stop(self, metrics: dict | None) -> None:
        pass

    def note(self, line: str) -> None:
        pass


class JsonDisplay(Display):
    """One JSON line a second (with ``flood`` during a flood wait, ``reconnecting`` while
    the connection to Telegram is being restored and ``media`` while a media pass runs);
    at the end a ``summary`` line, then the human summary."""

    def __init__(self, start: float | None = None, stream=None):
        super().__init__(start)
        self.stream = stream or sys.stderr

    def _write(self, line: str) -> None:
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass                      # stderr gone (closed pipe): the metrics file still counts

    def tick(self, fold, now: float) -> None:
        rate = self.rate.update(now, fold.messages)
        e = eta(fold.messages, fold.estimated_total, rate)
        rec = {"event": "progress", "messages": fold.messages, "total": fold.estimated_total,
               "rate": round(rate, 2), "eta_s": None if e is None else round(e, 1),
               "flood_waits": fold.flood_waits}
        chats = self.chats(fold)
        if chats is not None:                # run totals above; the chats under way here
            rec.update(chat=fold.chat, chats=chats, in_flight=list(fold.in_flight))
        active = fold.flood_active(now)
        if active is not None:
            rec["flood"] = {"method": active.method, "seconds": active.seconds,
                            "left_s": round(fold.flood_until - now, 1)}
        link = fold.reconnecting()
        if link is not None:
            rec["reconnecting"] = {"offline_s": round(link.offline_s, 1),
                                   "limit_s": round(link.limit_s, 1)}
        media = self.media(fold, now)
        if media is not None:
            rec["media"] = media
        self._write(orjson.dumps(rec).decode())

    def note(self, line: str) -> None:
        self._write(line)

    def chat_done(self, ev, fold) -> None:
        self._write(orjson.dumps({
            "event": "chat", "chat": ev.chat, "folder": ev.folder, "status": ev.status,
            "messages": ev.messages, "seconds": round(ev.seconds, 3),
            **({"error": ev.error} if ev.error else {}),
            **({"chats": chats} if (chats := self.chats(fold)) else {})}).decode())

    def stop(self, metrics: dict | None) -> None:
        if metrics is None:
            return
        self._write(orjson.dumps({
            "event": "summary", "status": metrics["status"], "messages": metrics["messages"],
            "wall_seconds": metrics["wall_seconds"],
            "messages_per_second": metrics["messages_per_second"],
            "flood_waits": metrics["telegram"]["flood_waits"],
            "peak_pss_mb": metrics["resources"]["peak_pss_mb"],
            "recommendation": metrics["recommendation"],
            **({"media_download": metrics["media_download"]}
               if "media_download" in metrics else {}),
            **({"transcode": metrics["transcode"]} if "transcode" in metrics else {}),
            **({"chats": metrics["chats"]} if metrics.get("chats_total", 0) > 1 else {})}
        ).decode())
        for line in summary_lines(metrics):
            self._write(line)


class TtyDisplay(Display):
    """A rich progress line: done / total, msgs/s, ETA, media MB done / total, MB/s and ETA
    while a media pass runs, flood waits (and the one under way), "reconnecting (n s)"
    while the connection to Telegram is being restored."""

    def __init__(self, start: float | None = None, force_terminal: bool = False):
        super().__init__(start)
        from rich.console import Console
        from rich.markup import escape
        from rich.progress import BarColumn, Progress, TextColumn
        from rich.table import Column

        self._escape = escape
        self.console = Console(stderr=True, force_terminal=force_terminal or None)
        self.progress = Progress(
            TextColumn("[bold]{task.description}", table_column=Column(no_wrap=True)),
            BarColumn(bar_width=16),
            TextColumn("{task.fields[stats]}", table_column=Column(no_wrap=True)),
            console=self.console, auto_refresh=False, transient=False)
        self.task = self.progress.add_task("export", total=None, stats="")
        self.progress.start()

    def tick(self, fold, now: float) -> None:
        rate = self.rate.update(now, fold.messages)
        total = fold.estimated_total
        e = eta(fold.messages, total, rate)
        parts = [f"{fold.messages:,}" + (f"/~{total:,}" if total > 0 else "") + " msgs",
                 f"{rate:,.0f}/s"]
        if e is not None:
            parts.append(f"ETA {duration(e)}")
        media = self.media(fold, now)
        if media is not None:
            parts.append(f"media {media['bytes_done'] / MIB:,.1f}/{media['bytes_total'] / MIB:,.1f}"
                         f" MB, {media['mb_per_second']:,.1f} MB/s"
                         + ("" if media["eta_s"] is None else f", ETA {duration(media['eta_s'])}")
                         + (f", copies {media['copies']}/{media['copies_wanted']}"
                            if media.get("copies_wanted") else ""))
        active = fold.flood_active(now)
        link = fold.reconnecting()
        if link is not None:
            parts.append(f"[yellow]reconnecting ({link.offline_s:.0f} s)[/]")
        if active is not None:
            left = max(0, round(fold.flood_until - now))
            parts.append(f"[yellow]flood wait {active.seconds} s on {active.method}"
                         f" ({left} s left)[/]")
        elif fold.flood_waits:
            parts.append(f"flood waits: {fold.flood_waits}")
        chat = fold.chat or "export"
        if len(chat) > 20:
            chat = chat[:19] + "…"
        chats = self.chats(fold)
        if chats is not None:                  # [chats done/N] in a run of several
            more = len(fold.in_flight) - 1
            chat = (f"[{chats['done']}/{chats['total']}] {chat}"
                    + (f" +{more} more" if more > 0 else ""))
        self.progress.update(
            self.task, description=self._escape(chat), completed=fold.messages,
            total=total if total > 0 else None, stats=" · ".join(parts))
        self.progress.refresh()

    def note(self, line: str) -> None:
        self.progress.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def stop(self, metrics: dict | None) -> None:
        try:
            self.progress.refresh()
            self.progress.stop()
            if metrics is not None:
                for line in summary_lines(metrics):
                    self.console.print(line, markup=False, highlight=False, soft_wrap=True)
        except (OSError, ValueError):
            pass


def make(mode: str, start: float | None = None) -> Display:
    if mode == "json":
        return JsonDisplay(start)
    if mode == "tty":
        return TtyDisplay(start, force_terminal=True)
    return Display(start)

