"""Worker-side stages: decode batches, render every output format, post-process media."""
