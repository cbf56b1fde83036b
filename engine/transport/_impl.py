"""Which ring core this process uses: the native build, else the pure-Python twin."""

from engine._native.native_or_twin import NativeRequired, choose

from . import _pyring

_CHOICE = choose("ring", _pyring, "ring")
DEFAULT, REASON = _CHOICE.module, _CHOICE.why
by_name = _CHOICE.by_name

__all__ = ["DEFAULT", "REASON", "NativeRequired", "by_name"]
