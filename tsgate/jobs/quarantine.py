"""Bad drops: found before or during a run, moved out of the inbox with the reason beside them.

A drop that cannot be read, does not match the model, or that the model cannot learn from
(a row it has seen in another drop of the same run, values beyond its range, every update
refused) is moved to the quarantine folder (default ``INBOX/quarantine``) with a text file
``<name>.reason`` beside it; the other drops are processed as usual, and the run says how many
it rejected (``tsgate job run`` exits 3). The reason file is written before the drop is moved,
so a run killed in between leaves the drop in the inbox, where the next run finds it again.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tsgate.exceptions import DataError, OnlineUpdateError
from tsgate.fileio import write_text

__all__ = ["QUARANTINE_DIR", "REASON_SUFFIX", "REJECTED", "quarantine", "first_failing", "unreadable"]

QUARANTINE_DIR = "quarantine"
REASON_SUFFIX = ".reason"
#: the errors that reject a drop (bad input); anything else stops the run
REJECTED = (DataError, OnlineUpdateError)


def quarantine(drop: Path, reason: str, folder: Path) -> Path:
    """Move ``drop`` into ``folder`` (created) with ``<name>.reason`` beside it; returns its new path."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / drop.name
    k = 1
    while target.exists() or target.with_name(target.name + REASON_SUFFIX).exists():
        target = folder / f"{drop.name}.{k}"
        k += 1
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_text(target.with_name(target.name + REASON_SUFFIX), f"{stamp} {drop}: {reason}\n")
    try:
        os.replace(drop, target)
    except OSError:  # another filesystem: copy, then remove
        shutil.move(str(drop), str(target))
    return target


def unreadable(drops: Sequence[Path], read: Callable[[Sequence[Path]], Any]) -> list[tuple[Path, str]]:
    """The drops that ``read([drop])`` refuses on their own, with the reason (one line each)."""
    bad = []
    for p in drops:
        try:
            read([p])
        except REJECTED as exc:
            bad.append((p, str(exc)))
    return bad


def first_failing(n: int, fails: Callable[[int], str | None], reason: str) -> tuple[int, str]:
    """The smallest ``k`` (1..n) for which ``fails(k)`` (learning the first k drops) gives a reason,
    found by bisection, knowing that all ``n`` drops fail with ``reason``.

    Adding drops never makes a failing prefix succeed (the rows that failed are still there),
    so a failure at ``k`` means the ``k``-th drop is the first that cannot be learned.
    """
    lo, hi = 0, n  # prefix lo succeeds (0: nothing learned), prefix hi fails with `reason`
    while hi - lo > 1:
        mid = (lo + hi) // 2
        r = fails(mid)
        if r is None:
            lo = mid
        else:
            hi, reason = mid, r
    return hi, reason
