"""ExtMarker respiratory-motion data: 3 chest markers x (x, y, z) in millimetres.

Bundled with tsgate (``datasets/extmarker``, CC BY 4.0; cite Krilavicius et al. 2013 and
Pohl et al. 2022, see :data:`CITATION`). Two layouts:

* ``10hz``: the original recordings, one file per marker, ``;``-separated with decimal commas,
  header ``"Frame";"Timestamp";"x";"y";"z"`` (Frame counts 60 fps camera frames, Timestamp in
  ms, positions in mm). Sequence k (1..9) is the k-th group of three files in sorted file-name
  order. Marker m (1..3) is the m-th file of its group in sorted order (LAC, UAC, UCC for
  sequences 1-5, 8, 9; LAC, LAR, UAR for 6 and 7). This numbering was checked against the
  resampled files: every third 10 Hz sample, minus the first sample, equals ``x1..z3`` of
  ``3.33hz/seqK.csv`` exactly (largest difference 0.0 mm for all 9 sequences and 9 columns).
* ``3.33hz`` and ``30hz``: the redistributors' resampled files (``t_s,x1,x2,x3,y1,...,z3``) on
  a regular time grid, positions relative to the first sample (the first row is all zeros).

Repairs of the raw 10 Hz files (every one is counted, with its file line numbers, in the
series' :class:`~tsgate.data.repairs.RepairReport`):

* rows whose five fields are all zero are dropped: the camera writes them after the last
  frame (sequences 1, 2, 3, 8, 9 end with one), and (0, 0, 0) mm is not a marker position;
* a timestamp is *corrupted* when it disagrees with the Frame clock by more than half a frame
  (1/120 s): ``|Timestamp/1000 - (Frame/60 + offset)| > 1/120`` s, where ``offset`` is the
  median of ``Timestamp/1000 - Frame/60`` over the file rounded to 1 ms (0 in every bundled
  file). Sound rows agree within 0.34 ms; the corrupted ones are off by seconds to minutes
  (e.g. ``25,6`` ms at Frame 768, where Frame/60 = 12.8 s). Such a timestamp is replaced by
  ``Frame/60 + offset``; all others are kept as recorded (1 ms resolution);
* the three marker files are joined on Frame; a row whose Frame is missing from another file
  of the sequence is dropped and counted (none in the bundled files).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from importlib.resources import files as _resource_files
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tsgate.data.repairs import RepairReport
from tsgate.data.series import IrregularSeries
from tsgate.exceptions import ConfigError, DataError, SchemaError

__all__ = [
    "RATES",
    "TARGETS",
    "CITATION",
    "LICENSE",
    "load_extmarker",
    "read_extmarker_raw",
    "extmarker_split",
    "load_extmarker_split",
    "extmarker_files",
]

RATES = ("10hz", "3.33hz", "30hz")
N_SEQUENCES = 9
TARGETS = ("x1", "x2", "x3", "y1", "y2", "y3", "z1", "z2", "z3")
LICENSE = "CC BY 4.0"
CITATION = (
    "Krilavicius T., Zliobaite I., Vidugiriene A., Simonavicius H., Jarusevicius L. (2013), "
    "'Predicting Respiratory Motion for Controlling Radiotherapy Treatment: an algorithmic "
    "approach', Baltic Institute of Advanced Technologies (arXiv:1508.00749); "
    "Pohl M. et al. (2022), 'Prediction of the Position of External Markers Using a Recurrent "
    "Neural Network Trained With Unbiased Online Recurrent Optimization for Safe Lung Cancer "
    "Radiotherapy', Computer Methods and Programs in Biomedicine (arXiv:2106.01100)."
)
# published protocol: (train, validation) sample counts; the test part is the rest
_SPLITS = {"10hz": (300, 300), "3.33hz": (100, 100), "30hz": (900, 900)}
_RAW_COLUMNS = ["Frame", "Timestamp", "x", "y", "z"]
FRAME_RATE_HZ = 60.0
# half a camera frame: a sound timestamp (1 ms resolution) is never this far off the Frame clock
_TIMESTAMP_TOLERANCE_S = 0.5 / FRAME_RATE_HZ


def _check_rate(rate: str) -> str:
    r = str(rate).strip().lower()
    if r not in RATES:
        raise ConfigError(f"rate must be one of {list(RATES)}, got {rate!r}.")
    return r


def _check_sequence(sequence: int) -> int:
    if isinstance(sequence, bool) or not isinstance(sequence, (int, np.integer)) or not 1 <= sequence <= N_SEQUENCES:
        raise ConfigError(f"sequence must be an integer from 1 to {N_SEQUENCES}, got {sequence!r}.")
    return int(sequence)


def _root() -> Any:
    return _resource_files("tsgate.bundled") / "extmarker"


def extmarker_files(sequence: int, rate: str = "10hz") -> list[Any]:
    """The bundled file(s) of one sequence: three marker files at 10 Hz, one file otherwise."""
    seq, r = _check_sequence(sequence), _check_rate(rate)
    folder = _root() / r
    if r != "10hz":
        return [folder / f"seq{seq}.csv"]
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".csv"))
    if len(names) != 3 * N_SEQUENCES:
        raise DataError(
            f"expected {3 * N_SEQUENCES} marker files, found {len(names)}; the installed dataset is incomplete.",
            file=str(folder),
        )
    group = names[3 * (seq - 1) : 3 * seq]
    if len({n.split("-")[0] for n in group}) != 1:
        raise DataError(f"files {group} of sequence {seq} do not share a recording time prefix.", file=str(folder))
    return [folder / n for n in group]


def extmarker_split(rate: str = "10hz") -> tuple[int, int]:
    """(n_train, n_val) samples of the published protocol: (300, 300) at 10 Hz, (100, 100) at
    3.33 Hz, (900, 900) at 30 Hz; use with ``series.split(train=n_train, val=n_val)``."""
    return _SPLITS[_check_rate(rate)]


def load_extmarker_split(
    sequence: int, rate: str = "10hz", **kw: Any
) -> tuple[IrregularSeries, IrregularSeries, IrregularSeries]:
    """Train, validation and test parts of one sequence under the published protocol."""
    s = load_extmarker(sequence, rate, **kw)
    n_train, n_val = extmarker_split(rate)
    return s.split(train=n_train, val=n_val)


def load_extmarker(sequence: int, rate: str = "10hz", *, relative: bool = False) -> IrregularSeries:
    """One bundled ExtMarker sequence as a series with 9 targets in mm.

    Parameters
    ----------
    sequence
        1 to 9.
    rate
        ``"10hz"`` (the raw recordings, repaired as described in the module docstring),
        ``"3.33hz"`` or ``"30hz"`` (the resampled files).
    relative
        Subtract the first sample's position (10 Hz only), as the resampled files do.

    Returns
    -------
    IrregularSeries
        Series id ``"seq<k>"``, time in seconds from the first sample, targets
        ``x1,x2,x3,y1,y2,y3,z1,z2,z3`` (marker 1..3), units ``"mm"``. ``series.report`` lists
        the repairs; ``series.meta`` holds the files, marker names, license and citation.
    """
    seq, r = _check_sequence(sequence), _check_rate(rate)
    paths = extmarker_files(seq, r)
    meta = {"dataset": f"extmarker-{r}-seq{seq}", "license": LICENSE, "citation": CITATION, "rate": r}
    if r == "10hz":
        s = read_extmarker_raw(paths, series_id=f"seq{seq}", relative=relative, meta=meta)
        return s
    if relative:
        raise ConfigError("relative=True applies to the 10hz files only; the resampled files are already relative.")
    path = paths[0]
    text = path.read_text(encoding="utf-8")
    try:
        df = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"cannot be read as CSV ({exc}).", file=_display(path)) from None
    expected = ["t_s", *TARGETS]
    if list(df.columns) != expected:
        raise SchemaError(f"has columns {list(df.columns)}, expected {expected}.", file=_display(path))
    meta["files"] = [_display(path)]
    return IrregularSeries.from_frame(
        df.assign(series=f"seq{seq}"),
        time_col="t_s",
        id_col="series",
        target_cols=list(TARGETS),
        units={c: "mm" for c in TARGETS},
        source=_display(path),
        first_row=2,
        meta=meta,
    )


def _display(path: Any) -> str:
    """A short, stable name for a bundled or user file in messages and reports."""
    p, root = str(path), str(_root())
    return "tsgate.bundled/extmarker" + p[len(root) :] if p.startswith(root) else p


def _read_raw_file(path: Any) -> pd.DataFrame:
    name = _display(path)
    try:
        text = (Path(path) if isinstance(path, str) else path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot be read ({exc}).", file=name) from None
    try:
        df = pd.read_csv(io.StringIO(text), sep=";", decimal=",", dtype=str, skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot be read as a 10 Hz ExtMarker file ({msg}).", file=name) from None
    if list(df.columns) != _RAW_COLUMNS:
        raise SchemaError(
            f"has columns {list(df.columns)}, expected {_RAW_COLUMNS} (';'-separated, decimal commas).",
            file=name,
        )
    df["_line"] = np.arange(len(df), dtype=np.int64) + 2
    df = df[df[_RAW_COLUMNS].notna().any(axis=1)]  # blank lines (e.g. a trailing one)
    out = pd.DataFrame({"_line": df["_line"].to_numpy()})
    for c in _RAW_COLUMNS:
        s = df[c].str.strip().str.replace(",", ".", regex=False)
        v = pd.to_numeric(s, errors="coerce")
        bad = v.isna().to_numpy() | ~np.isfinite(v.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SchemaError(
                f"value {df[c].iloc[i]!r} is not a number; the file may be truncated or corrupted.",
                file=name,
                column=c,
                row=int(df["_line"].iloc[i]),
            )
        out[c] = v.to_numpy(dtype=np.float64)
    if len(out) == 0:
        raise DataError("has no data rows.", file=name)
    return out


def read_extmarker_raw(
    paths: Sequence[str | Path | Any],
    *,
    series_id: Any = "seq",
    relative: bool = False,
    meta: dict[str, Any] | None = None,
) -> IrregularSeries:
    """Merge three raw 10 Hz marker files (marker 1, 2, 3 in the given order) into one series.

    Drops all-zero rows, repairs corrupted timestamps from the Frame column and joins the files
    on Frame, as described in the module docstring; every repair is in ``series.report`` with
    the file line numbers.
    """
    paths = list(paths)
    if len(paths) != 3:
        raise ConfigError(f"give the 3 marker files of one sequence, got {len(paths)}.")
    names = [_display(p) for p in paths]
    source = names[0].rsplit("/", 1)[0] if "/" in names[0] else names[0]
    report = RepairReport(f"{series_id} ({', '.join(n.rsplit('/', 1)[-1] for n in names)})")
    found: dict[tuple[str, tuple[int, ...]], list[str]] = {}

    def note(reason: str, lines: np.ndarray, name: str, merge: bool = True) -> None:
        # the same lines in several files of a sequence are the same rows: one entry for them
        if len(lines):
            key = (reason if merge else f"{reason}\0{name}", tuple(int(x) for x in lines))
            found.setdefault(key, []).append(name.rsplit("/", 1)[-1])

    parts = []
    for m, (p, name) in enumerate(zip(paths, names), start=1):
        d = _read_raw_file(p)
        zero = (d[_RAW_COLUMNS].to_numpy() == 0).all(axis=1)
        note("all-zero rows dropped", d.loc[zero, "_line"].to_numpy(), name)
        d = d[~zero]
        clock = d["Frame"].to_numpy() / FRAME_RATE_HZ
        ts = d["Timestamp"].to_numpy() / 1000.0
        # the Timestamp clock's offset from Frame/60, to the timestamps' 1 ms resolution
        offset = round(float(np.median(ts - clock)), 3) if len(d) else 0.0
        corrupt = np.abs(ts - (clock + offset)) > _TIMESTAMP_TOLERANCE_S
        note("timestamps repaired from Frame/60", d.loc[corrupt, "_line"].to_numpy(), name)
        d = d.assign(time_s=np.where(corrupt, clock + offset, ts))
        dupf = d["Frame"].duplicated(keep="first").to_numpy()
        if dupf.any():
            i = int(np.flatnonzero(dupf)[0])
            raise DataError(
                f"Frame {int(d['Frame'].iloc[i])} appears twice; remove the repeated row.",
                file=name,
                column="Frame",
                row=int(d["_line"].iloc[i]),
            )
        parts.append(
            d.rename(columns={"x": f"x{m}", "y": f"y{m}", "z": f"z{m}", "_line": f"_line{m}", "time_s": f"time{m}"})
            .drop(columns=["Timestamp"])
        )
    merged = parts[0]
    for q in parts[1:]:
        merged = merged.merge(q, on="Frame", how="outer", sort=True)
    complete = merged[[f"x{m}" for m in (1, 2, 3)]].notna().all(axis=1).to_numpy()
    for m, name in enumerate(names, start=1):
        lonely = merged.loc[~complete, f"_line{m}"].dropna().to_numpy(dtype=np.int64)
        note("rows without a matching Frame in the other marker files dropped", lonely, name, merge=False)
    merged = merged[complete]
    t = merged[["time1", "time2", "time3"]].to_numpy()
    disagree = np.abs(t - t[:, :1]).max(axis=1) > _TIMESTAMP_TOLERANCE_S
    if disagree.any():
        i = int(np.flatnonzero(disagree)[0])
        raise DataError(
            f"the marker files disagree on the time of Frame {int(merged['Frame'].iloc[i])} "
            f"({', '.join(f'{v:.3f} s' for v in t[i])}); check that the files belong to one sequence.",
            file=names[1],
            row=int(merged["_line2"].iloc[i]),
        )
    for (reason, lines), fnames in found.items():
        report.add(
            reason.split("\0")[0], len(lines), series=series_id, rows=list(lines), detail="in " + ", ".join(fnames)
        )
    if len(merged) == 0:
        raise DataError("the three marker files share no Frame; check that they belong to one sequence.", file=source)
    frame = pd.DataFrame({"series": series_id, "time": merged["time1"].to_numpy() - merged["time1"].iloc[0]})
    for c in TARGETS:
        v = merged[c].to_numpy()
        frame[c] = v - v[0] if relative else v
    info = dict(meta or {})
    info.setdefault("license", LICENSE)
    info.setdefault("citation", CITATION)
    info["files"] = names
    base = [n.rsplit("/", 1)[-1] for n in names]
    # the position code in the bundled file names (LAC, UAC, UCC, LAR, UAR), else the file name
    info["markers"] = {m: b.split("-")[1] if b.count("-") >= 2 else b for m, b in enumerate(base, 1)}
    info["relative"] = bool(relative)
    return IrregularSeries.from_frame(
        frame,
        time_col="time",
        id_col="series",
        target_cols=list(TARGETS),
        units={c: "mm" for c in TARGETS},
        source=source,
        report=report,
        row_numbers=merged["_line1"].to_numpy(dtype=np.int64),
        meta=info,
    )
