"""Loopback MTProto server and synthetic corpus for tests, benchmarks and the demo."""
