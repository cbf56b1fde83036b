"""Media files: Telegram Desktop's kinds, folders and file names, and the ``--media`` /
``--max-media-size`` parsers, numbering. See docs/media.md."""
