"""Content fingerprints of recordings: does this data overlap a recording a network was trained on?

A pre-trained network must never be evaluated on a recording it has seen. Names and file paths
do not show that (a sequence can be exported to CSV, cut, made relative to its first sample or
have columns dropped), so the check is on content: the fingerprint of one coordinate is the set
of hashes of its windows of ``WINDOW`` consecutive differences, rounded to ``QUANTUM`` data
units (positions shifted by a constant give the same differences). Windows with too little
motion (a still coordinate, whose differences are mostly 0) are skipped, and only hashes that
are 0 modulo ``KEEP`` are stored (content-defined sampling: data and recording keep the same
windows, so a match survives the sampling while the stored set is ``KEEP`` times smaller).
"""

from __future__ import annotations

import numpy as np

__all__ = ["fingerprint", "overlap", "WINDOW", "QUANTUM", "KEEP"]

WINDOW = 24  # consecutive differences per window
QUANTUM = 0.01  # rounding of the differences, data units (ExtMarker files hold 0.1 mm)
KEEP = 8  # store the hashes that are 0 modulo KEEP
_MIN_MOTION = 150  # a window needs this many quanta of total absolute difference
_MULT = np.uint64(0x9E3779B97F4A7C15)


def _window_hashes(x: np.ndarray) -> np.ndarray:
    """Hashes of every informative window of one coordinate's differences (uint64)."""
    d = np.rint(np.diff(np.asarray(x, dtype=np.float64)) / QUANTUM).astype(np.int64)
    n = len(d) - WINDOW + 1
    if n <= 0:
        return np.zeros(0, np.uint64)
    idx = np.arange(n)[:, None] + np.arange(WINDOW)[None, :]
    win = d[idx]
    informative = np.abs(win).sum(axis=1) >= _MIN_MOTION
    h = np.zeros(n, np.uint64)
    with np.errstate(over="ignore"):
        for j in range(WINDOW):
            h = (h ^ win[:, j].astype(np.uint64)) * _MULT
            h ^= h >> np.uint64(29)
    return h[informative]


def fingerprint(values: np.ndarray) -> np.ndarray:
    """Sorted unique sampled hashes of every coordinate of a recording ``values`` [n, k]."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    hs = [_window_hashes(v[:, c]) for c in range(v.shape[1])]
    h = np.concatenate(hs) if hs else np.zeros(0, np.uint64)
    return np.unique(h[h % np.uint64(KEEP) == 0])


def overlap(values: np.ndarray, reference: np.ndarray) -> tuple[int, int]:
    """(matched, sampled): how many of the data's sampled window hashes are in ``reference``."""
    h = fingerprint(values)
    if len(h) == 0 or len(reference) == 0:
        return 0, int(len(h))
    pos = np.clip(np.searchsorted(reference, h), 0, len(reference) - 1)
    return int((reference[pos] == h).sum()), int(len(h))
