"""Random draws of the generator's hot path: UUIDs as integers and cheap weighted choices.

A million calls are drawn per run, so these use `random()` arithmetic rather than `randrange` or
`choice`; changing any of them changes every generated row.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Sequence
from typing import Any

__all__ = ["Table", "below", "choose", "cumulative", "ordered_pair", "pick", "uuid_int"]

_M64 = (1 << 64) - 1
# Force RFC 4122 version 4 / variant bits so ids look like real UUIDs.
_UUID_CLEAR = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID_SET = (0x4 << 76) | (0x2 << 62)

Table = tuple[list[float], list[Any]]  # cumulative probabilities, values


def uuid_int(rng: random.Random) -> int:
    return (rng.getrandbits(128) & _UUID_CLEAR) | _UUID_SET


def ordered_pair(rng: random.Random) -> tuple[int, int]:
    """Two ids (lower, higher) whose order is the same as Python UUIDs and as ClickHouse sorts them.

    ClickHouse compares UUIDs by their low 64 bits first, Python by the whole 128-bit number; for the
    deliberate created_at ties we want "highest id" to be unambiguous under both.
    """
    a, b = uuid_int(rng), uuid_int(rng)
    hi_a, hi_b, lo_a, lo_b = a >> 64, b >> 64, a & _M64, b & _M64
    return (min(hi_a, hi_b) << 64) | min(lo_a, lo_b), (max(hi_a, hi_b) << 64) | max(lo_a, lo_b)


def cumulative(table: Sequence[tuple[Any, float]]) -> Table:
    """(value, weight) rows as a table for `pick`."""
    total = sum(w for _, w in table)
    cum, acc = [], 0.0
    for _, weight in table:
        acc += weight / total
        cum.append(acc)
    cum[-1] = 1.0
    return cum, [value for value, _ in table]


def pick(rng: random.Random, table: Table) -> Any:
    return table[1][bisect.bisect_right(table[0], rng.random())]


def below(rng: random.Random, n: int) -> int:
    return int(rng.random() * n)


def choose(rng: random.Random, seq: Sequence[Any]) -> Any:
    return seq[int(rng.random() * len(seq))]
