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
