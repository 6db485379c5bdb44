"""The model-based state machine (memalloc_py.testing) against every allocator
configuration: check() and the model comparison run after every step."""
import memalloc_py as ma
from memalloc_py.testing import machine_for, machine_options


def _machine(name, **options):
    opts = machine_options(name)
    opts.update(options)
    return machine_for(name, f"{name.title().replace('-', '')}Machine", **opts).TestCase


# Every allocator of the registry that has an arena, with the options
# machine_options picks: a 64 KiB arena growing in 4 KiB steps.
for _name in ma.ARENA_ALLOCATORS:
    globals()[f"Test_{_name.replace('-', '_')}"] = _machine(_name)

# The classes' own constructors give the same machines.
TestBuddyClass = machine_for(lambda: ma.Buddy(arena_size=1 << 16), "BuddyClassMachine").TestCase

# A larger minimum block: rounding up to min_block, fewer orders.
TestBuddyMin64 = _machine("buddy", arena_size=1 << 14, min_block=64)

# Trimming, preallocation, a small growth step and a larger minimum block.
Test_best_ao_trim = _machine("best-ao", trim=True)
Test_next_lifo_trim = _machine("next-lifo", trim=True, prealloc=8192)
Test_first_fifo_small_steps = _machine("first-fifo", growth=16, min_block=64)
# Stamps renumbered every few hundred frees (best and worst fit: they are
# 32-bit in the C core), positions compacted (first and next fit, LIFO/FIFO).
Test_best_lifo_renumbering = _machine("best-lifo", _stamp_limit=300)
Test_worst_fifo_renumbering = _machine("worst-fifo", _stamp_limit=250)
Test_next_fifo_compaction = _machine("next-fifo", _stamp_limit=200)
Test_first_lifo_compaction = _machine("first-lifo", _stamp_limit=150)
# TLSF: trimming with preallocation, a small growth step, the coarsest and
# the finest second level.
Test_tlsf_trim = _machine("tlsf", trim=True, prealloc=8192)
Test_tlsf_small_steps_sl1 = _machine("tlsf", growth=16, sl_bits=1)
Test_tlsf_sl6 = _machine("tlsf", sl_bits=6)
