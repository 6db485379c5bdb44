"""Write the committed seed corpus of tests/fuzz/fuzz_core.c (tests/fuzz/seeds/).

Deterministic: the same files on every run.  Each seed is a head (allocator,
arena, debugging switches, own options: see fuzz_core.c) and a few hundred
bytes of operations, mostly allocations and frees with small and
power-of-two sizes, so that blocks split, merge and run out from the first
run on.  The fuzzer's own corpus grows from these.
"""
from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent


def operations(rng: random.Random, n: int) -> bytes:
    out = bytearray()
    for _ in range(n):
        op = rng.choice([0, 0, 1, 2, 3, 4, 5, 7, 7, 8, 9, 10] * 4 + [11])
        out.append(op)
        if op in (0, 1, 2, 3, 4):  # allocations: slot [count|alignment] kind size
            out.append(rng.randrange(48))
            if op in (3, 4):
                out.append(rng.randrange(256) if op == 4 else rng.randrange(4))
            out += bytes([rng.choice([0, 0, 1, 1, 2, 3]), rng.randrange(256)])
        elif op in (5,):  # realloc: slot kind size
            out += bytes([rng.randrange(48), rng.choice([0, 1, 1, 2]), rng.randrange(256)])
        elif op in (7, 8):  # free: slot
            out.append(rng.randrange(48))
        elif op == 9:  # invalid: how slot arg arg
            out += bytes(rng.randrange(256) for _ in range(4))
        elif op == 10:  # edges: slot
            out.append(rng.randrange(48))
        # 11: reset (11 % 8 == 3), no argument
    return bytes(out)


def main() -> None:
    target = HERE / "seeds"
    target.mkdir(exist_ok=True)
    for old in target.iterdir():
        old.unlink()
    rng = random.Random(19)
    for entry in range(16):  # every entry of today's registry, and room for more
        for variant in range(2):
            head = bytes([entry, rng.randrange(256), rng.randrange(256) if variant else 0,
                          rng.randrange(256) if variant else 0])
            data = head + operations(rng, 120 + 80 * variant)
            (target / f"entry{entry:02d}-{variant}").write_bytes(data)


if __name__ == "__main__":
    main()
