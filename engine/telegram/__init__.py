"""Everything of tgarc's exporter that imports Telethon lives in this package."""
