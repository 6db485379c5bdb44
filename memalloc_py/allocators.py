"""The allocators: one small class each, and the C registry (``ma_create``) behind ``create``."""
from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from ._core import Allocator, AllocatorError, _count
from ._native import ffi, lib

__all__ = ["Buddy", "FreeList", "TLSF", "System", "Zones", "ZONE_DTYPE", "FITS", "ORDERS", "ALIASES", "ALLOCATORS",
           "ARENA_ALLOCATORS", "REGISTRY", "DEBUG_OPTIONS", "AllocatorInfo", "OptionInfo", "create", "info",
           "accepted_options"]


def _option(value: Any, name: str) -> int:
    """An integer option as C takes it (uint64_t).  Only the type and what a
    uint64_t can hold are checked here; the C create function checks the
    range and names the parameter, its value and the allowed range."""
    return _count(value, name)


#: The C registry's option types, by ma_option_type.
_OPTION_TYPES = {lib.MA_OPT_SIZE: "size", lib.MA_OPT_INTEGER: "integer",
                 lib.MA_OPT_BOOLEAN: "boolean", lib.MA_OPT_CHOICE: "choice"}


@dataclass(frozen=True)
class OptionInfo:
    """One option of a registered allocator, as the C registry lists it."""

    name: str
    type: str           # "size", "integer", "boolean" or "choice"
    default: Union[int, bool, str]
    default_text: str   # as the options text takes it ("1G")
    min: int
    max: int            # the widest range; the rule in ``description`` may be narrower
    description: str
    hidden: bool        # for tests only (keyword with a leading underscore)
    choices: tuple[str, ...] = ()  # a choice's words, in the order of their values

    def value(self, number: int) -> Union[int, bool, str]:
        """A parsed value as Python holds it (a bool for booleans, the word
        for a choice)."""
        if self.type == "choice":
            return self.choices[number]
        return bool(number) if self.type == "boolean" else number


@dataclass(frozen=True)
class AllocatorInfo:
    """One allocator of the C registry (``memalloc list`` shows them)."""

    name: str
    aliases: tuple[str, ...]
    family: str         # the code behind it: "buddy", "free-list", "system"
    description: str
    options: tuple[OptionInfo, ...]

    def option_names(self, hidden: bool = False) -> tuple[str, ...]:
        return tuple(o.name for o in self.options if hidden or not o.hidden)

    def option(self, name: str) -> OptionInfo:
        return next(o for o in self.options if o.name == name)


def _text(p: Any) -> str:
    return ffi.string(p).decode()


def _read_registry() -> tuple[dict[str, AllocatorInfo], tuple[OptionInfo, ...]]:
    """Every allocator of the C registry, in its order, with its own options;
    and the debugging switches that every allocator takes after its own."""
    found: dict[str, AllocatorInfo] = {}
    debug: dict[str, OptionInfo] = {}
    e = ffi.new("ma_registry_info *")
    o = ffi.new("ma_option_info *")
    for i in range(lib.ma_registry_count()):
        if lib.ma_registry_entry(i, e) != lib.MA_OK:  # pragma: no cover - i < count
            raise AllocatorError(_text(lib.ma_thread_error()))
        options = []
        for j in range(e.n_options):
            if lib.ma_registry_option(i, j, o) != lib.MA_OK:  # pragma: no cover
                raise AllocatorError(_text(lib.ma_thread_error()))
            kind = _OPTION_TYPES[o.type]
            words = tuple(_text(o.choices).split(",")) if kind == "choice" else ()
            option = OptionInfo(_text(o.name), kind, int(o.default_value), _text(o.default_text),
                                int(o.min), int(o.max), _text(o.description), bool(o.hidden), words)
            option = dataclasses.replace(option, default=option.value(int(o.default_value)))
            if o.debug:
                debug.setdefault(option.name, option)
            else:
                options.append(option)
        aliases = _text(e.aliases)
        found[_text(e.name)] = AllocatorInfo(_text(e.name), tuple(aliases.split(",")) if aliases else (),
                                             _text(e.family), _text(e.description), tuple(options))
    return found, tuple(debug.values())


def _default(name: str, option: str) -> Any:
    """The registry's default of one option (the classes' keyword defaults)."""
    for i in range(lib.ma_registry_count()):
        e = ffi.new("ma_registry_info *")
        lib.ma_registry_entry(i, e)
        if _text(e.name) == name:
            o = ffi.new("ma_option_info *")
            for j in range(e.n_options):
                lib.ma_registry_option(i, j, o)
                if _text(o.name) == option:
                    return int(o.default_value)
    raise KeyError(f"{name} has no option {option}")  # pragma: no cover


class Buddy(Allocator):
    """Binary buddy allocator ("twins"): power-of-two blocks, split and merge.

    ``arena_size``: a power of two from 1 KiB to 1 TiB (address space reserved,
    not memory).  ``min_block``: a power of two from 16 to ``arena_size``.
    A value out of range raises ValueError naming the parameter, the value and
    the allowed range (the C core's own check); a non-integer TypeError.

    Bookkeeping lives in a side table (4 bits per minimum block, reported as
    ``metadata_bytes``), so every byte of a block is usable: a request takes
    the smallest power of two >= max(request, min_block), aligned to its size.
    ``heap_size`` is the end of the highest allocated block, and only free
    blocks below it count as free "inside the heap".  Block addresses start
    at 0, so ``memalign`` meets any power-of-two alignment up to
    ``arena_size`` (on an empty heap, the whole arena is one block at 0).
    """

    def __init__(self, arena_size: int = _default("buddy", "arena_size"),
                 min_block: int = _default("buddy", "min_block")):
        arena_size = _option(arena_size, "arena_size")
        min_block = _option(min_block, "min_block")
        super().__init__(
            lambda out: lib.ma_buddy_create(arena_size, min_block, out),
            {"arena_size": arena_size, "min_block": min_block},
        )
        self.min_block = min_block

    def _registered(self) -> None:
        """Attributes of an instance made by :func:`create`."""
        self.min_block = int(self.options["min_block"])


#: Placement policies of :class:`FreeList`.
FITS = ("best", "first", "next", "worst")
#: Free-list orders of :class:`FreeList` and their short names.
ORDERS = {"address": "ao", "lifo": "lifo", "fifo": "fifo"}
_FIT_CODES = {"best": lib.MA_FIT_BEST, "first": lib.MA_FIT_FIRST,
              "next": lib.MA_FIT_NEXT, "worst": lib.MA_FIT_WORST}
_ORDER_CODES = {"address": lib.MA_ORDER_ADDRESS, "lifo": lib.MA_ORDER_LIFO,
                "fifo": lib.MA_ORDER_FIFO}
# The C core's defaults (ma_freelist_config_default), FreeList's own.
_FL_DEFAULT = lib.ma_freelist_config_default()


def _name_code(value: Any, name: str, codes: dict[str, int]) -> int:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if value not in codes:
        raise ValueError(f"{name} must be one of {tuple(codes)}, got {value!r}")
    return codes[value]


class FreeList(Allocator):
    """The free-list family: one boundary-tag heap, twelve placement policies.

    ``fit``: ``"best"`` (the smallest free block that fits), ``"first"`` (the
    first in the free-list order that fits), ``"next"`` (like first, from a
    roving pointer, wrapping around) or ``"worst"`` (the largest).
    ``order``: the free-list order, ``"address"``, ``"lifo"`` (most recently
    freed first) or ``"fifo"``; it also breaks ties between equal sizes.

    The heap grows at the top of the arena (``arena_size``, address space
    reserved: a multiple of 16 from 4 KiB to 32 GiB) in whole steps of
    ``growth`` bytes (a multiple of 16 from 16 to ``arena_size``, not
    necessarily a power of two), like the program break, extending a free
    last block.  ``prealloc``: heap bytes taken at creation (0, or a multiple
    of 16 from ``min_block`` to ``arena_size``).  ``trim``: give the top of
    the heap back when it becomes free (never below ``prealloc``).
    ``min_block``: the smallest block (a multiple of 16 from 32 to
    ``arena_size``).  A value out of range raises ValueError naming the
    parameter, the value and the allowed range (the C core's own check); a
    non-integer TypeError.

    Each allocated block costs 8 bytes, as in glibc: its size word sits
    before the payload, which runs 8 bytes past the block's end (into the
    first word of the next block, where a free block keeps its footer), so
    ``usable_size`` is the block size minus 8.  Free blocks also carry their
    index tag and are coalesced with free neighbours at once.  A request of
    n bytes takes a block of ``max(min_block, round_up(n + 8, 16))`` bytes; a free block is
    split when the remainder can hold a minimum block, the allocation taking
    its low end.  ``memalign`` looks for a block of size + alignment +
    min_block and frees the leading fragment.  An address is its block's
    offset + 16, never 0, so no address is a multiple of ``arena_size``:
    alignments up to ``arena_size / 2`` can succeed (on a fresh heap, when
    the heap can grow by block size + alignment + min_block), larger ones are
    out of memory (None).
    """

    def __init__(
        self,
        arena_size: int = int(_FL_DEFAULT.arena_size),
        fit: str = FITS[_FL_DEFAULT.fit],
        order: str = tuple(ORDERS)[_FL_DEFAULT.order],
        growth: int = int(_FL_DEFAULT.growth),
        prealloc: int = int(_FL_DEFAULT.prealloc),
        trim: bool = bool(_FL_DEFAULT.trim),
        min_block: int = int(_FL_DEFAULT.min_block),
        _stamp_limit: int = int(_FL_DEFAULT.stamp_limit),
    ):
        if not isinstance(trim, bool):
            raise TypeError(f"trim must be True or False, not {type(trim).__name__}")
        cfg = ffi.new("ma_freelist_config *")
        cfg.fit = _name_code(fit, "fit", _FIT_CODES)
        cfg.order = _name_code(order, "order", _ORDER_CODES)
        cfg.arena_size = arena_size = _option(arena_size, "arena_size")
        cfg.growth = growth = _option(growth, "growth")
        cfg.prealloc = prealloc = _option(prealloc, "prealloc")
        cfg.min_block = min_block = _option(min_block, "min_block")
        cfg.trim = int(trim)
        cfg.stamp_limit = _option(_stamp_limit, "_stamp_limit")
        super().__init__(
            lambda out: lib.ma_freelist_create(cfg, out),
            {"arena_size": arena_size, "fit": fit, "order": order, "growth": growth,
             "prealloc": prealloc, "trim": trim, "min_block": min_block},
        )
        self.fit = fit
        self.order = order
        self.min_block = min_block

    def _registered(self) -> None:
        """Attributes of an instance made by :func:`create`: the registry's
        names fix fit and order, and the instance is named "<fit>-<order>"."""
        fit, short = self.name.split("-")
        self.fit = fit
        self.order = next(o for o, s in ORDERS.items() if s == short)
        self.options = {"arena_size": self.options["arena_size"], "fit": self.fit,
                        "order": self.order, **self.options}
        self.min_block = int(self.options["min_block"])


# The C core's defaults (ma_tlsf_config_default), TLSF's own.
_TLSF_DEFAULT = lib.ma_tlsf_config_default()


class TLSF(Allocator):
    """Two-level segregated fit (Masmano et al.): a good fit in O(1).

    Free blocks sit in size classes: one level per power of two, each split
    into ``2 ** sl_bits`` classes (``sl_bits`` from 1 to 6, default 5), with
    a bitmap per level.  A request takes the most recently freed block of
    the first non-empty class at or above its size rounded up to a class, so
    every block it could take fits (:meth:`mapping` gives the classes).

    Each block has an 8-byte size word before its payload, as in glibc: the
    address is the block's offset + 16 and ``usable_size`` is the block size
    minus 8 (the payload reaches into the first word of the next block, where
    a free block keeps its footer).  A request of n bytes takes a block of
    ``max(32, round_up(n + 8, 16))`` bytes; a block is split when the rest can
    hold 32 bytes.  Coalescing is immediate.  The heap grows at the top of the
    arena like the free list's: ``arena_size`` (a multiple of 16 from 4 KiB to
    32 GiB), ``growth`` (a multiple of 16 from 16 to ``arena_size``),
    ``prealloc`` (0, or a multiple of 16 from 32 to ``arena_size``) and
    ``trim`` mean what they mean for :class:`FreeList`.  ``memalign`` looks
    for a block of size + alignment + 32 and frees the leading fragment;
    alignments up to ``arena_size / 2`` can succeed.  A value out of range
    raises ValueError naming the parameter, the value and the allowed range
    (the C core's own check); a non-integer TypeError.
    """

    def __init__(
        self,
        arena_size: int = int(_TLSF_DEFAULT.arena_size),
        growth: int = int(_TLSF_DEFAULT.growth),
        prealloc: int = int(_TLSF_DEFAULT.prealloc),
        trim: bool = bool(_TLSF_DEFAULT.trim),
        sl_bits: int = int(_TLSF_DEFAULT.sl_bits),
    ):
        if not isinstance(trim, bool):
            raise TypeError(f"trim must be True or False, not {type(trim).__name__}")
        cfg = ffi.new("ma_tlsf_config *")
        cfg.arena_size = arena_size = _option(arena_size, "arena_size")
        cfg.growth = growth = _option(growth, "growth")
        cfg.prealloc = prealloc = _option(prealloc, "prealloc")
        cfg.trim = int(trim)
        cfg.sl_bits = sl_bits = _option(sl_bits, "sl_bits")
        super().__init__(
            lambda out: lib.ma_tlsf_create(cfg, out),
            {"arena_size": arena_size, "growth": growth, "prealloc": prealloc,
             "trim": trim, "sl_bits": sl_bits},
        )
        self.sl_bits = sl_bits

    def _registered(self) -> None:
        """Attributes of an instance made by :func:`create`."""
        self.sl_bits = int(self.options["sl_bits"])

    @staticmethod
    def mapping(size: int, sl_bits: int = int(_TLSF_DEFAULT.sl_bits),
                search: bool = False) -> tuple[int, int]:
        """The class ``(fl, sl)`` of a block of ``size`` bytes (a multiple of
        16 from 32 to 32 GiB): where a free block of that size is listed, or
        with ``search=True`` where a search for one starts (the size rounded
        up to a class).  ValueError for a value out of range."""
        size = _option(size, "size")
        sl_bits = _option(sl_bits, "sl_bits")
        if not isinstance(search, bool):
            raise TypeError(f"search must be True or False, not {type(search).__name__}")
        fl, sl = ffi.new("unsigned *"), ffi.new("unsigned *")
        # C takes an unsigned: a larger value is out of range there too.
        if lib.ma_tlsf_mapping(min(sl_bits, 0xFFFFFFFF), size, int(search), fl, sl) != lib.MA_OK:
            message = ffi.string(lib.ma_thread_error()).decode()
            raise ValueError(message.replace("got 4294967295", f"got {sl_bits}"))
        return int(fl[0]), int(sl[0])


class System(Allocator):
    """The C library's malloc behind the common interface: the speed baseline.

    There is no arena: addresses are real pointers (they differ between runs)
    and ``arena_size`` is 0.  ``blocks()`` and ``dump()`` raise
    NotImplementedError (libc's heap cannot be walked from outside) and
    ``heap_size`` is 0.  Bad addresses are still rejected with InvalidAddress
    before libc sees them.
    """

    def __init__(self) -> None:
        super().__init__(lambda out: lib.ma_system_create(out), {})

    def _registered(self) -> None:
        """Nothing to add for an instance made by :func:`create`."""


#: What ``Zones.zones()`` returns: one row per zone, LARGE region or run of
#: the free page pool, in address order.  ``kind`` is "TINY", "SMALL",
#: "LARGE" or "pool"; ``block_size`` a zone's class (else ``size``);
#: ``blocks`` the blocks it holds (1 for a region or a run), ``live`` how
#: many of them are allocated.
ZONE_DTYPE = np.dtype([("offset", "<u8"), ("size", "<u8"), ("kind", "U5"),
                       ("block_size", "<u8"), ("blocks", "<u8"), ("live", "<u8")])
_ZONE_KINDS = {lib.MA_ZONE_TINY: "TINY", lib.MA_ZONE_SMALL: "SMALL",
               lib.MA_ZONE_LARGE: "LARGE", lib.MA_ZONE_POOL: "pool"}
_CLASS_MODES = {"fine": lib.MA_ZONES_FINE, "pow2": lib.MA_ZONES_POW2}


class Zones(Allocator):
    """Segregated TINY / SMALL / LARGE zones, the 42 school's malloc.

    A request of n bytes is TINY when ``n <= tiny_max`` (default 128), SMALL
    when ``n <= small_max`` (default 4096), else LARGE.  TINY and SMALL
    requests take a block of the smallest size class that holds them
    (:meth:`classes`), from a zone of that class: whole pages holding at
    least 100 blocks of the class, blocks back to back from the zone's first
    byte, with no header (the zone's record, in a side table, gives the
    size).  ``classes="fine"`` (default): every multiple of 16 up to
    ``tiny_max``, then four classes per doubling up to ``small_max``;
    ``"pow2"``: powers of two from 16 (Johnstone and Wilson's simple
    segregated storage; ``tiny_max`` and ``small_max`` must be powers of
    two).  A LARGE request takes whole pages of its own.

    Zones and LARGE regions are runs of pages taken best-fit from a free
    page pool or from the top of the pages in use (``heap_size``, like a
    program break).  When a zone becomes empty it is kept if its class has
    no other empty zone, else its pages return to the pool at once; pages
    that reach the top lower it.  ``arena_size``: a multiple of the page size
    from 1 MiB to 64 GiB that holds the largest zone; ``tiny_max`` a multiple
    of 16 from 16 to 1024, ``small_max`` a multiple of 16 from 256 to 65536
    above ``tiny_max``.  A value out of range raises ValueError naming the
    parameter (the C core's own check).

    ``blocks()`` lists each zone's blocks (free ones too) and its slack (the
    bytes after its last block) as a free block, each LARGE region as one
    block and each run of the pool as one free block; :meth:`zones` lists
    the zones themselves, and :meth:`dump` prints them like 42's
    ``show_alloc_mem()``.
    """

    def __init__(self, arena_size: int = _default("zones", "arena_size"),
                 tiny_max: int = _default("zones", "tiny_max"),
                 small_max: int = _default("zones", "small_max"),
                 classes: str = ("fine", "pow2")[_default("zones", "classes")]):
        arena_size = _option(arena_size, "arena_size")
        tiny_max = _option(tiny_max, "tiny_max")
        small_max = _option(small_max, "small_max")
        mode = _name_code(classes, "classes", _CLASS_MODES)
        super().__init__(
            lambda out: lib.ma_zones_create(arena_size, tiny_max, small_max, mode, out),
            {"arena_size": arena_size, "tiny_max": tiny_max, "small_max": small_max,
             "classes": classes},
        )

    def _registered(self) -> None:
        """Nothing to add for an instance made by :func:`create`."""

    def classes(self) -> tuple[int, ...]:
        """The block sizes of the size classes, smallest first."""
        h = self._handle()
        count = ffi.new("uint64_t *")
        sizes = ffi.new("uint64_t[]", 256)
        status = lib.ma_zones_classes(h, sizes, 256, count)
        if status != lib.MA_OK:  # pragma: no cover - a zones instance, open
            self._raise(status, h)
        return tuple(int(sizes[i]) for i in range(int(count[0])))

    def zones(self) -> np.ndarray:
        """Every zone, LARGE region and run of the free page pool below the
        heap size, in address order (a :data:`ZONE_DTYPE` array)."""
        h = self._handle()
        count = ffi.new("uint64_t *")
        capacity = 64
        while True:
            raw = ffi.new("ma_zone_info[]", capacity)
            status = lib.ma_zones_list(h, raw, capacity, count)
            if status != lib.MA_OK:
                self._raise(status, h)
            if count[0] <= capacity:
                break
            capacity = int(count[0]) + 16
        out = np.empty(int(count[0]), dtype=ZONE_DTYPE)
        for i in range(len(out)):
            z = raw[i]
            out[i] = (z.offset, z.size, _ZONE_KINDS[z.kind], z.block_size, z.blocks, z.live)
        return out

    def dump(self) -> str:
        """The heap as 42's ``show_alloc_mem()`` prints it: each zone and LARGE
        region in address order as ``KIND : 0xSTART - 0xEND``, then each of
        its allocations as ``0xADDRESS - 0xEND : N bytes`` (N the bytes
        requested, END the address + N), and last ``Total : N bytes``, the
        bytes requested by every live allocation.  Runs of the free page pool
        are not zones and are left out; an empty zone is listed without
        allocations.  Addresses are arena offsets in upper-case hex."""
        zones = self.zones()
        live = self.blocks().allocated.array
        lines = []
        i = 0
        for z in zones:
            if z["kind"] == "pool":
                continue
            start, end = int(z["offset"]), int(z["offset"]) + int(z["size"])
            lines.append(f"{z['kind']} : 0x{start:X} - 0x{end:X}")
            while i < len(live) and int(live["address"][i]) < start:
                i += 1  # pragma: no cover - every allocation lies in a zone
            while i < len(live) and int(live["address"][i]) < end:
                addr, n = int(live["address"][i]), int(live["requested"][i])
                lines.append(f"0x{addr:X} - 0x{addr + n:X} : {n} bytes")
                i += 1
        lines.append(f"Total : {int(live['requested'].sum())} bytes")
        return "\n".join(lines)


#: The Python class of each family of the C registry (the code behind a name).
_FAMILY_CLASSES: dict[str, type[Allocator]] = {"buddy": Buddy, "free-list": FreeList, "zones": Zones,
                                               "tlsf": TLSF, "system": System}

REGISTRY: dict[str, AllocatorInfo]
#: The debugging switches that every allocator of the registry takes as
#: options of :func:`create` (docs/api.md, "Debugging switches").
DEBUG_OPTIONS: tuple[OptionInfo, ...]
REGISTRY, DEBUG_OPTIONS = _read_registry()

#: The names that :func:`create` accepts, in a stable order: the registry's
#: names, then its aliases.
ALLOCATORS: tuple[str, ...] = tuple(REGISTRY) + tuple(
    alias for info in REGISTRY.values() for alias in info.aliases)

#: Short names and the allocators they stand for.
ALIASES: dict[str, str] = {alias: info.name for info in REGISTRY.values() for alias in info.aliases}

#: Every distinct allocator that manages an arena (no aliases, no ``system``).
ARENA_ALLOCATORS: tuple[str, ...] = tuple(
    info.name for info in REGISTRY.values() if "arena_size" in info.option_names(hidden=True))


def info(name: str) -> AllocatorInfo:
    """The registry's entry for ``name`` (or an alias of it); ValueError when unknown."""
    if not isinstance(name, str) or ALIASES.get(name, name) not in REGISTRY:
        raise ValueError(f"unknown allocator {name!r}; choose one of: {', '.join(ALLOCATORS)}")
    return REGISTRY[ALIASES.get(name, name)]


def _option_text(key: str, value: Any) -> str:
    """A keyword option as ma_create's text takes it: an int in decimal, a
    bool as 0 or 1, a str as is (a comma would start another option)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str):
        if "," in value:
            raise ValueError(f"option {key}={value!r}: a value cannot contain a comma")
        return value
    try:
        return str(operator.index(value))
    except TypeError:
        raise TypeError(f"option {key} must be an int, a bool or a str, not "
                        f"{type(value).__name__}") from None


def _options_text(options: dict[str, Any]) -> str:
    """The keywords as one options text.  A leading underscore marks a hidden
    (test-only) option: ``_stamp_limit`` is the registry's ``stamp_limit``."""
    pairs = []
    for key, value in options.items():
        if not key.isidentifier():
            raise ValueError(f"{key!r} is not an option name")
        pairs.append(f"{key[1:] if key.startswith('_') else key}={_option_text(key, value)}")
    return ",".join(pairs)


def create(name: str, **options: Any) -> Allocator:
    """Create the allocator registered as ``name`` (see ``ALLOCATORS``) through
    the C registry (``ma_create``).  Options are keywords (``list`` in the CLI
    shows each allocator's); a str value takes the C syntax (``"1G"``).  An
    unknown name or option, or a bad value, is a ValueError with C's message."""
    entry = info(name)
    text = _options_text(options).encode()
    every = entry.options + DEBUG_OPTIONS  # the registry's numbering
    values = ffi.new("uint64_t[]", len(every))
    if lib.ma_registry_parse(entry.name.encode(), text, ffi.NULL, values, len(every)) != lib.MA_OK:
        raise ValueError(ffi.string(lib.ma_thread_error()).decode())
    # The allocator's own options, and the debugging switches that are on.
    given = {o.name: o.value(int(values[j])) for j, o in enumerate(every)
             if not o.hidden and (j < len(entry.options) or int(values[j]) != o.default)}
    # A family with no class of its own (a new allocator that needs no
    # Python methods beyond the interface) is a plain Allocator.
    cls = _FAMILY_CLASSES.get(entry.family, Allocator)
    obj: Any = cls.__new__(cls)  # each family's class adds its attributes in _registered
    c_name = entry.name.encode()
    Allocator.__init__(obj, lambda out: lib.ma_create(c_name, text, out), given)
    if cls is not Allocator:
        obj._registered()
    return obj


def accepted_options(name: str) -> frozenset[str]:
    """The keyword options that ``create(name, ...)`` accepts (hidden ones aside):
    the allocator's own and the debugging switches (``DEBUG_OPTIONS``)."""
    return frozenset(info(name).option_names()) | {o.name for o in DEBUG_OPTIONS}
