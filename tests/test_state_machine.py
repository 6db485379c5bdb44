"""The model-based state machine (memalloc_py.testing) against every allocator
configuration: check() and the model comparison run after every step."""
import memalloc_py as ma
from memalloc_py.testing import machine_for

# A small arena so that out-of-memory, splitting and merging all happen often.
TestBuddy = machine_for(lambda: ma.Buddy(arena_size=1 << 16), "BuddyMachine").TestCase

# A larger minimum block: rounding up to min_block, fewer orders.
TestBuddyMin64 = machine_for(
    lambda: ma.Buddy(arena_size=1 << 14, min_block=64), "BuddyMin64Machine"
).TestCase


def _free_list_machine(name, **options):
    opts = dict(arena_size=1 << 16, growth=4096)
    opts.update(options)
    cls = machine_for(lambda: ma.create(name, **opts), f"{name.title().replace('-', '')}Machine")
    return cls.TestCase


# All twelve policies, on a 64 KiB arena that grows in 4 KiB steps.
for _name in [f"{fit}-{order}" for fit in ma.FITS for order in ("ao", "lifo", "fifo")]:
    globals()[f"Test_{_name.replace('-', '_')}"] = _free_list_machine(_name)

# Trimming, preallocation, a small growth step and a larger minimum block.
Test_best_ao_trim = _free_list_machine("best-ao", trim=True)
Test_next_lifo_trim = _free_list_machine("next-lifo", trim=True, prealloc=8192)
Test_first_fifo_small_steps = _free_list_machine("first-fifo", growth=16, min_block=64)
# Stamps renumbered every few hundred frees (best and worst fit: they are
# 32-bit in the C core), positions compacted (first and next fit, LIFO/FIFO).
Test_best_lifo_renumbering = _free_list_machine("best-lifo", _stamp_limit=300)
Test_worst_fifo_renumbering = _free_list_machine("worst-fifo", _stamp_limit=250)
Test_next_fifo_compaction = _free_list_machine("next-fifo", _stamp_limit=200)
Test_first_lifo_compaction = _free_list_machine("first-lifo", _stamp_limit=150)
