"""Compiled modules built by setup.py from native/*.pyx (absent when the build was skipped)."""
