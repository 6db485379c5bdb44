"""Statements in comments and documentation that once drifted from the code:
each check fails if the old, untrue text comes back or the true one goes."""
import re
from pathlib import Path

import memalloc_py as ma

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
MEMALLOC_H = (ROOT / "csrc" / "memalloc.h").read_text()


def flat(text):
    """Comment text as one line: comment markers and line breaks gone."""
    return re.sub(r"\s+", " ", re.sub(r"^\s*\*+|/\*|\*/", " ", text, flags=re.M))


def test_memalign_limits_are_stated_per_allocator():
    # The free list cannot meet an alignment of the whole arena (an address is
    # its block's offset + 16); the buddy system can.
    readme = flat(README)
    assert "any power-of-two alignment up to the arena size (" in readme  # buddy's paragraph
    assert "# any power-of-two alignment up to the arena size" not in readme  # the API tour's old claim
    assert "`memalign` meets alignments up to `arena_size / 2`" in readme
    assert "alignments up to ``arena_size / 2`` can succeed" in flat(ma.FreeList.__doc__)
    assert "any power-of-two alignment up to ``arena_size``" in flat(ma.Buddy.__doc__)
    assert "memalign can meet alignments up to arena_size / 2" in flat(MEMALLOC_H)
