"""Records that cross a process boundary during an export (msgspec msgpack, tagged).

    supervisor ──jobs──► worker i          PagesJob (raw pages), BatchJob, Stop
    worker i  ──events─► supervisor        Ack, Failed
    supervisor ─events─► aggregator        Proc, Plan, Stages, Progress, TelegramSnapshot,
                                           GovernorState, LinkState, CacheSnapshot, QueueSample,
                                           WorkerBusy, Flood, MediaSnapshot, Finish

Each record is one ring record. Cumulative figures (progress, Telegram counters, cache
counters, busy seconds) are sent as running totals so a lost or late record never
skews the fold; timings (``Stages``) are sent as samples and folded by the aggregator.
"""

from __future__ import annotations

import msgspec
from msgspec import Struct

from engine.model.schema import PeerRef


# ---- supervisor -> worker ---------------------------------------------------------------------
class BatchJob(Struct, tag="batch", array_like=True):
    """One history page. ``payload`` is the msgpack of an ``engine.model.Batch``; the
    worker stores it verbatim as archive segment ``segment`` (a file name, no folder)."""
    seq: int
    segment: str
    payload: bytes


class PagesJob(Struct, tag="pages", array_like=True):
    """Consecutive history pages of one chat as Telegram sent them (raw-page mode):
    the worker decodes the TL, keeps the messages with ids in ``lo..hi`` and stores the
    resulting Batch as archive segment ``segment``."""
    seq: int
    segment: str
    chat: PeerRef
    lo: int
    hi: int
    pages: list[bytes]
    # the chat the pages come from when it is not ``chat``: the basic group a supergroup
    # migrated from (its messages keep their own chat and ids; renderers apply the shift)
    origin: PeerRef | None = None
    # the store the segment goes into, as a folder relative to the pool's (a run's pool is
    # rooted at --out: ``<chat folder>``, ``<chat folder>/comments/<post>``; '': the pool's)
    folder: str = ""
    tz: str = ""              # the zone its fragments are rendered in ('': the pool's)


class ProbeJob(Struct, tag="probe", array_like=True):
    """A downloaded media file to read with PyAV (engine/media/probe.py): ``path`` is
    relative to the pool's folder (the chat's), ``decode`` reads every frame too."""
    seq: int
    path: str
    decode: bool = False


class TranscodeJob(Struct, tag="transcode", array_like=True):
    """A downloaded video to copy compactly (engine/media/transcode.py ``transcode_auto``):
    ``src`` and ``dest`` are relative to the pool's folder (the chat's); ``hw`` names the
    hardware encoder to try first (encoder, device type, device), else the CPU; with
    ``verify`` the copy is decoded back and checked (``--transcode-replace``)."""
    seq: int
    src: str
    dest: str
    codec: str
    max_height: int | None = None
    crf: int | None = None
    hw: tuple[str, str, str | None] | None = None
    verify: bool = False
    audio: bool = False       # the source has an audio stream: the copy must have one


class RenderJob(Struct, tag="render", array_like=True):
    """Archive segment ``segment`` of the store in ``folder`` (relative to the pool's folder)
    rendered into its fragment cache in the pool's time zone, unless the cache already
    holds that (``tgarc render``: the fragments made in parallel, assembly only joins)."""
    seq: int
    segment: str
    folder: str = ""
    tz: str = ""              # '': the pool's zone


class Stop(Struct, tag="stop", array_like=True):
    """No more jobs: finish what is queued and exit 0."""


Job = BatchJob | PagesJob | ProbeJob | TranscodeJob | RenderJob | Stop


# ---- worker -> supervisor ---------------------------------------------------------------------
class Ack(Struct, tag="ack", array_like=True):
    """Batch ``seq`` is durable: its segment is fsynced and renamed into ``archive/``
    (the folder itself is fsynced by the supervisor before the checkpoint moves) and its
    fragments are in the render cache. Times are seconds spent in each stage."""
    seq: int
    worker: int
    messages: int
    date_lo: int
    date_hi: int
    decode_s: float
    render_s: float
    write_s: float
    tl_native: int = 0        # messages of its pages the native TL decoder read
    tl_telethon: int = 0      # ... and those Telethon's reader read (engine/telegram/tl.py)
    files: int = -1           # messages with a file the media ledger numbers (Segment.files)


class Failed(Struct, tag="failed", array_like=True):
    """Batch ``seq`` could not be processed (the reason is one readable line).
    ``errno`` is set when the cause is local I/O (disk full, read-only, permissions):
    then no other batch can succeed either and the export stops (exit code 4)."""
    seq: int
    worker: int
    error: str
    errno: int = 0
    path: str = ""


class Probed(Struct, tag="probed", array_like=True):
    """``ProbeJob`` ``seq`` done: ``probe`` is the msgpack map of an
    ``engine.media.probe.Probe``'s fields that are set, or ``error`` says in one line why
    the file does not probe (corrupt, not media)."""
    seq: int
    worker: int
    probe: bytes = b""
    error: str = ""
    seconds: float = 0.0


class Transcoded(Struct, tag="transcoded", array_like=True):
    """``TranscodeJob`` ``seq`` done: ``result`` is the msgpack map of the copy's
    ``engine.media.transcode.Result`` fields plus its ``sha256``, or ``error`` says in one
    line why no copy was made; ``verify_error`` says why a copy asked to be verified was
    not (it stays a copy: the original is never replaced by it)."""
    seq: int
    worker: int
    result: bytes = b""
    error: str = ""
    verified: bool = False
    verify_error: str = ""
    seconds: float = 0.0


class Rendered(Struct, tag="rendered", array_like=True):
    """``RenderJob`` ``seq`` done: ``messages`` rendered anew (0: the cache fitted), or
    ``error`` in one line (assembly then renders that segment itself)."""
    seq: int
    worker: int
    messages: int = 0
    error: str = ""
    seconds: float = 0.0


WorkerEvent = Ack | Failed | Probed | Transcoded | Rendered


# ---- supervisor -> aggregator -----------------------------------------------------------------
class Proc(Struct, tag="proc", array_like=True):
    """A tgarc process to sample (``alive=False``: it ended; keep its last figures)."""
    pid: int
    role: str                 # supervisor | worker | aggregator
    alive: bool = True


class Tasks(Struct, tag="tasks", array_like=True):
    """A cluster job's workers on one node (Ray tasks, engine/cluster/tasks.py): how many
    ran there and the CPU they took, which no local sampling sees."""
    node: str
    tasks: int
    cpu_seconds: float


class Plan(Struct, tag="plan", array_like=True):
    chat: str                 # display name of the chat being exported
    estimated_total: int      # messages expected in this run (0: unknown)
    workers: int
    ring_capacity_bytes: int


class Stages(Struct, tag="stages", array_like=True):
    """Duration samples (seconds) of one stage: fetch, decode, render, write, ..."""
    stage: str
    seconds: list[float]


class Progress(Struct, tag="progress", array_like=True):
    messages: int             # running total of messages made durable in this run


class TelegramSnapshot(Struct, tag="telegram", array_like=True):
    requests: int
    flood_waits: int
    flood_wait_seconds: float
    retries: int
    timeouts: int
    reconnects: int


class GovernorState(Struct, tag="governor", array_like=True):
    """The account's request governor (engine/telegram/governor.py ``summary()``), sent
    when it changed: export_metrics.json's ``telegram.governor``."""
    summary: dict


class LinkState(Struct, tag="link", array_like=True):
    """The connection to Telegram, sent with every TelegramSnapshot."""
    offline_s: float          # how long the current outage has lasted (0: connected)
    limit_s: float            # how long it may last before the run gives up (0: unknown)
    offline_total_s: float    # running total of seconds without Telegram in this run


class CacheSnapshot(Struct, tag="cache", array_like=True):
    name: str                 # input_peer_cache
    hits: int
    misses: int
    evictions: int
    expirations: int


class QueueSample(Struct, tag="queue", array_like=True):
    fill: float               # used / capacity over all job rings, 0..1
    producer_blocked_seconds: float   # running total


class WorkerBusy(Struct, tag="busy", array_like=True):
    worker: int
    busy_seconds: float       # running total of decode+render+write time


class Flood(Struct, tag="flood", array_like=True):
    method: str
    seconds: int


class MediaSnapshot(Struct, tag="media", array_like=True):
    """Running totals of the run's media downloads (--media), summed over its chats'
    ``MediaTally`` (engine/supervisor/media_fetch.py); sent only when media was asked for."""
    active: bool              # a media pass is under way now
    files: int                # downloaded (or linked) this run
    failed: int
    bytes_total: int          # of the files wanted
    bytes_done: int           # durable so far (resumed parts included)
    bytes_fetched: int        # asked of Telegram by this run
    dedup_files: int          # stored once, as a link to an identical file
    dedup_bytes: int
    refreshes: int            # file references renewed
    seconds: float            # spent in media passes (the current one included)
    retries: int              # Telegram request retries while a media pass ran
    by_dc: dict[int, int] = {}   # bytes fetched per DC
    probed: int = 0           # files a worker read (engine/media/probe.py)
    corrupt: int = 0          # downloaded whole, not readable as media
    probe_seconds: float = 0.0
    # --transcode (engine/supervisor/media_transcode.py TranscodeTally), summed
    transcoded: int = 0
    transcode_wanted: int = 0 # candidates offered (copies made, linked or failed, and to come)
    transcode_linked: int = 0 # copies of identical originals, made once and hard-linked
    transcode_failed: int = 0
    replaced: int = 0
    not_replaced: int = 0
    fallbacks: int = 0        # a hardware encoder failed on a file: the CPU copied it
    transcode_seconds: float = 0.0     # worker seconds
    transcode_frames: int = 0
    transcode_video_seconds: float = 0.0
    transcode_bytes_in: int = 0
    transcode_bytes_out: int = 0
    encoders: dict[str, int] = {}
    hwaccel: dict | None = None        # the detection (hwaccel.Verdict.as_dict); None: not asked


class Decoded(Struct, tag="decoded", array_like=True):
    """Running totals of the run's TL decoding in the workers (engine/telegram/tl.py):
    messages read by the native decoder and by Telethon's reader, and which decoder."""
    implementation: str
    native: int
    telethon: int


class RunPlan(Struct, tag="runplan", array_like=True):
    """How many chats this run exports (``--all``, several targets)."""
    chats: int


class ChatDone(Struct, tag="chatdone", array_like=True):
    """One chat of the run ended: ``status`` done or failed (``error`` says why)."""
    chat: str                 # display name
    folder: str               # its folder in --out ("" when none was made)
    messages: int             # messages made durable for it in this run
    seconds: float
    status: str = "done"
    error: str = ""


class Finish(Struct, tag="finish", array_like=True):
    """The run ended. ``status``: done, failed, interrupted, error."""
    status: str
    messages: int             # messages made durable in this run
    message: str = ""         # one line for the summary


AggEvent = (Proc | Tasks | Plan | Stages | Progress | TelegramSnapshot | GovernorState | LinkState
            | CacheSnapshot | QueueSample | WorkerBusy | Flood | MediaSnapshot | Decoded | RunPlan
            | ChatDone | Finish)

ENCODER = msgspec.msgpack.Encoder()
JOB_DECODER = msgspec.msgpack.Decoder(Job)
WORKER_EVENT_DECODER = msgspec.msgpack.Decoder(WorkerEvent)
AGG_DECODER = msgspec.msgpack.Decoder(AggEvent)
