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


MA_INTERNAL_H = (ROOT / "csrc" / "ma_internal.h").read_text()
# freelist.c and the parts it includes (csrc/freelist/*.h): one translation unit.
FREELIST_C = "\n".join(p.read_text() for p in [ROOT / "csrc" / "freelist.c",
                                               *sorted((ROOT / "csrc" / "freelist").glob("*.h"))])


def test_memalloc_h_names_each_policy_index():
    # Not one treap for every policy: size bins through a bitmap (lists or
    # pairing heaps) plus a treap for best and worst fit, a 16-ary position
    # tree for first and next fit (csrc/freelist.c and its parts).
    text = flat(MEMALLOC_H)
    assert "treap index that answers every policy's search" not in text
    for words in ("exact-size bins found through a bitmap", "pairing heaps by address",
                  "a treap for blocks of 16 KiB and more", "16-ary tree of size bounds"):
        assert words in text
    assert "#define NBINS 1024u" in FREELIST_C  # 1024 bins of 16 bytes: 16 KiB


def test_the_arena_is_unmapped_from_its_base():
    # The arena is trimmed to [base, base + arena), so there is no separate
    # "what mmap returned" address to keep.
    assert "map_addr" not in MA_INTERNAL_H
    assert "map_addr" not in (ROOT / "csrc" / "core.c").read_text()


def test_the_compaction_rule_is_stated_as_the_code_has_it():
    code = "h->pstamp >= h->pt_floor && h->pstamp >= 4 * h->free_blocks + 64"
    assert code in FREELIST_C
    assert "stamps in use reach 4 * free blocks + 64 (and pt_floor)" in flat(FREELIST_C)
