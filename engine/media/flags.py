"""The export's media flags: ``--media``, ``--max-media-size`` and the ``--transcode`` family,
declared for the parser (``add``) and read into ExportConfig fields, checked (``settings``):
one readable line (ConfigError, exit 2) for anything wrong, before anything runs."""

from __future__ import annotations

import argparse

from engine.config import ConfigError, at_least, choice

DEFAULT_MEDIA = "all"


def add(ex: argparse.ArgumentParser) -> None:
    ex.add_argument("--media", metavar="KINDS",
                    help="media to download: all, none, or some of photo,video,voice,round,"
                         f"sticker,gif,audio,document (default: {DEFAULT_MEDIA})")
    ex.add_argument("--max-media-size", metavar="SIZE",
                    help="skip files larger than this (e.g. 50M, 2G; binary units; default: "
                         "no limit)")
    ex.add_argument("--media-lanes", type=int, help=argparse.SUPPRESS)
    ex.add_argument("--transcode", metavar="CODEC",
                    help="also make a compact copy of each downloaded video in transcoded/: "
                         "h264, h265, av1 or off (default: off; originals are kept)")
    ex.add_argument("--transcode-min-size", metavar="SIZE",
                    help="with --transcode: leave videos smaller than this as they are "
                         "(e.g. 20M; default: copy every video)")
    ex.add_argument("--max-height", type=int, metavar="PIXELS",
                    help="with --transcode: scale copies down to this height (e.g. 720)")
    ex.add_argument("--crf", type=int, metavar="N",
                    help="with --transcode: constant quality, lower is better and larger "
                         "(default: h264 23, h265 28, av1 35)")
    ex.add_argument("--transcode-replace", action="store_true", default=None,
                    help="with --transcode: replace each original by its copy once the copy "
                         "decodes back as the original (saves disk; the original is gone)")
    ex.add_argument("--hwaccel", metavar="MODE",
                    help="video encoding on a GPU: auto (VA-API or NVENC when `tgarc doctor` "
                         "finds one working, else the CPU) or off (default: auto)")


def settings(args, pick) -> dict:
    """--media, --max-media-size and the --transcode family (flags over the config file),
    checked: ExportConfig's fields."""
    from engine.media import kinds as media_kinds

    size = pick(args.max_media_size, "max_media_size", "none")
    media = tuple(sorted(media_kinds.parse_kinds(pick(args.media, "media", DEFAULT_MEDIA))))
    return {"media": media,
            "max_media_size": media_kinds.parse_size(str(size)),
            "media_lanes": at_least("--media-lanes", pick(args.media_lanes, "media_lanes", 2),
                                    1),
            **_transcode(args, pick, media)}


TRANSCODE_CODECS = ("off", "h264", "h265", "av1")
MAX_CRF = {"h264": 51, "h265": 51, "av1": 63}


def _transcode(args, pick, media: tuple[str, ...]) -> dict:
    """--transcode and the flags that shape it, checked (the codec against this PyAV)."""
    from engine.media import hwaccel
    from engine.media import kinds as media_kinds

    codec = choice("--transcode", str(pick(args.transcode, "transcode", "off")).lower(),
                   TRANSCODE_CODECS)
    hw = choice("--hwaccel", str(pick(args.hwaccel, "hwaccel", "auto")).lower(),
                ("auto", "off"))
    hwaccel.check_settings(hw)
    given = {"--transcode-min-size": pick(args.transcode_min_size, "transcode_min_size"),
             "--max-height": pick(args.max_height, "max_height"),
             "--crf": pick(args.crf, "crf"),
             "--transcode-replace": pick(args.transcode_replace, "transcode_replace") or None}
    if codec == "off":
        flag = next((f for f, v in given.items() if v is not None), None)
        if flag is not None:
            raise ConfigError(f"{flag} shapes the copies of --transcode CODEC, which "
                                     f"is off: add --transcode h264 (or h265, av1)")
        return {"transcode": "off", "hwaccel": hw}
    if not {"video", "round", "gif"} & set(media):
        raise ConfigError(f"--transcode {codec} copies downloaded videos, but --media "
                                 f"{','.join(media) or 'none'} downloads none: add video")
    from engine.media import transcode

    try:
        transcode.pick_encoder(codec)
    except transcode.TranscodeFailed as exc:
        raise ConfigError(f"--transcode {codec}: {exc}") from None
    height, crf = given["--max-height"], given["--crf"]
    if height is not None and not 16 <= height <= 8640:
        raise ConfigError(f"--max-height must be between 16 and 8640 pixels, "
                                 f"not {height}")
    if crf is not None and not 0 <= crf <= MAX_CRF[codec]:
        raise ConfigError(f"--crf for {codec} must be between 0 and {MAX_CRF[codec]}, "
                                 f"not {crf}")
    least = media_kinds.parse_size(str(given["--transcode-min-size"] or 0),
                                   "--transcode-min-size")
    return {"transcode": codec, "transcode_min_size": least or 0, "max_height": height,
            "crf": crf, "transcode_replace": bool(given["--transcode-replace"]), "hwaccel": hw}
