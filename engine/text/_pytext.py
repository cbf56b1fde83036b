"""Pure-Python twin of ``engine._native.text``: the same two functions, the same output
byte for byte (tests/test_text.py proves it on random input).  The rules both follow are
written down once, in ``engine/text/__init__.py``; the twin is their reference reading,
so it favours plain loops over cleverness.  It is in pieces that mirror the native ones:

- ``_pyentities.py``  UTF-16 entities to code-point ranges  (native/text_entities.pxi)
- ``_pytdtext.py``    result.json's text pair, ``td_text``    (native/text.pyx)
- ``_pymd_layout.py`` Markdown: blocks vs inline entities    (native/text_md_layout.pxi)
- ``_pymarkdown.py``  Markdown: writing it, ``markdown``     (native/text_md_blocks.pxi,
                      text_md_inline.pxi, text_md_state.pxi)
"""

from __future__ import annotations

from ._pymarkdown import markdown
from ._pytdtext import td_text

IMPLEMENTATION = "pure"

__all__ = ["IMPLEMENTATION", "markdown", "td_text"]
