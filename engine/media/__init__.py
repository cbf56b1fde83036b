"""Media files: Telegram Desktop's kinds, folders and file names, and the ``--media`` /
``--max-media-size`` parsers, numbering, and probing what a file holds (``probe.py``). See
docs/media.md."""
