"""Media files: Telegram Desktop's kinds, folders and file names, and the ``--media`` /
``--max-media-size`` parsers (issue 12; not wired into the export yet). See docs/media.md."""
