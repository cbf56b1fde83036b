"""On-disk layout: names, atomic writes, the checkpoint, the archive of record."""
