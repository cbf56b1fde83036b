"""Planning the parts of a download (engine/telegram/download_plan.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.fakedc import files
from engine.telegram.download_plan import ONE_MB, PART_SIZES, legal, plan


# ---- planning ---------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.integers(0, 8 << 30), st.sampled_from(PART_SIZES))
def test_parts_cover_the_file_once_and_obey_telegrams_rules(size, part):
    parts = plan(size, part)
    assert sum(p.length for p in parts) == size
    end = 0
    for i, p in enumerate(parts):
        assert (p.index, p.offset, p.limit) == (i, end, part)
        assert 0 < p.length <= p.limit and (p.length == p.limit or i == len(parts) - 1)
        assert legal(p.offset, p.limit)
        assert files.check_range(p.offset, p.limit, precise=False) is None   # fakedc agrees
        end += p.length
    assert len(parts) == -(-size // part)


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 64 << 20).map(lambda x: x - x % 1024), st.integers(1, 2 * ONE_MB))
def test_legal_is_telegrams_rule(offset, limit):
    assert legal(offset, limit) == (files.check_range(offset, limit, precise=False) is None)


def test_a_part_size_telegram_would_refuse_is_refused():
    for bad in (4096, 3 * 4096, 2 * ONE_MB):
        with pytest.raises(ValueError):
            plan(10, bad)
