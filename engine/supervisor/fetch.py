"""The fetch loop: pages read from Telegram, oldest first, handed to the worker pool.

Several streams (``--fetch-streams``) take spans off one queue. A stream reads its span
a page (≤ 100 messages) at a time through explicit id windows, so streams never wait
for each other; consecutive pages of one span travel as one job of about
``JOB_MESSAGES`` (one segment, one fsync, one acknowledgement per job, not per page).
Pages go undecoded (raw-page mode, engine/telegram/rawpage.py): the workers parse the
TL. A stream takes a permit before a job's first page (backpressure), and stops before
its next request once ``halted()`` says so; pages already read still become a job.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from engine.supervisor.dispatch import Destination, Dispatch, Page
from engine.supervisor.planning import History, Span
from engine.supervisor.tally import Tally

JOB_MESSAGES = 1000           # messages per job / archive segment


class PageStreams:
    def __init__(self, source, dispatch: Dispatch, dest: Destination, tally: Tally,
                 halted: Callable[[], bool]):
        self.source, self.dispatch, self.dest = source, dispatch, dest
        self.tally, self.halted = tally, halted

    async def run(self, spans: deque[Span], streams: int) -> None:
        """Fetch every span (or until halted); the first failure is raised as itself."""
        try:
            async with asyncio.TaskGroup() as tg:
                for _ in range(max(1, streams)):
                    tg.create_task(self._stream(spans))
        except BaseExceptionGroup as group:
            raise group.exceptions[0] from None

    async def _stream(self, spans: deque[Span]) -> None:
        held: list[Page] = []
        count = 0
        history = History()
        permitted = False       # a permit taken for the job being gathered
        try:
            while spans and not self.halted():
                span = spans.popleft()
                history, cursor = span.history, span.lo
                while cursor <= span.hi and not self.halted():
                    if not permitted:
                        await self.dispatch.permit()
                        permitted = True
                        if self.halted():
                            return
                    data, n, covered, took = await self.source.raw_page(cursor, span.hi,
                                                                        history.pages)
                    self.tally.sample("fetch", took)
                    held.append((data, cursor, covered))
                    count += n
                    cursor = covered + 1
                    if count >= JOB_MESSAGES or cursor > span.hi or self.halted():
                        self.dispatch.submit(self.dest, held, history)
                        held, count, permitted = [], 0, False
        finally:
            if held:             # fetched before a failure elsewhere: keep it
                self.dispatch.submit(self.dest, held, history)
            elif permitted:      # taken for pages that never came: the pool is shared
                self.dispatch.unpermit()
