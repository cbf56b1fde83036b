"""A worker process: decode batches, render their fragments, write segments (main.py)."""
