"""Reading AIS CSV files in chunks: bounded memory, selection while reading, exact line numbers.

The file is read in blocks of about ``chunk_bytes`` cut at line ends; each block is parsed by
pyarrow's CSV reader (only the columns the adapter needs are converted; aisdk's fixed-width
timestamps are decoded from their bytes with numpy), then filtered at once, so that peak memory
is a few blocks plus the rows kept, whatever the file size:

1. blank lines are skipped (not counted);
2. (aisdk) rows whose ``Type of mobile`` is not selected are dropped (base stations, AtoN, ...);
3. rows without a valid MMSI or position are dropped (:func:`~tsgate.adapters.ais_decoding.valid_rows`);
4. the selection the user asked for: MMSIs, time window, area (bounding box), vessel type;
5. SOG, COG and heading are decoded (:func:`~tsgate.adapters.ais_decoding.decode_motion`).

Threads: pyarrow converts the next block in a second thread while the current one is
filtered, and its parser uses pyarrow's CPU thread pool, whose size ``OMP_NUM_THREADS`` sets
(``OMP_NUM_THREADS=1``: one parser thread; :func:`pyarrow.set_cpu_count` changes it).

Line numbers are exact: each block's first line is counted from the newlines before it, and a
block whose rows do not match its lines one to one (a quoted field spanning lines) is read again
line by line. A block pyarrow cannot convert (a decimal comma, a stray word, a mix of timestamps
with and without offsets) is converted again field by field, and a bad value is refused with its
file, column and line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tsgate.adapters.ais_decoding import decode_motion, valid_rows
from tsgate.adapters.ais_layouts import COLUMNS, TIME_FORMAT, ship_type_names
from tsgate.adapters.ais_times import decode_dmy_hms
from tsgate.adapters.ais_report import Tally, release_memory, take
from tsgate.data.times import has_offset
from tsgate.exceptions import DataError, SchemaError, TimestampError

__all__ = ["Selection", "selection_from_args", "read_reports", "FIELDS", "DEFAULT_CHUNK_BYTES"]

DEFAULT_CHUNK_BYTES = 32 << 20
#: the arrays every read gives, in this order (``line`` and ``time`` int64, the rest float64)
FIELDS = ("line", "mmsi", "time", "lat", "lon", "sog", "cog", "heading")
_NUMERIC = ("mmsi", "lat", "lon", "sog", "cog", "heading")
# the system allocator gives freed blocks back to the operating system; pyarrow's default pool
# may keep them, which would make peak memory grow with the number of blocks read
_POOL = pa.system_memory_pool()
_NULLS = ["", "nan", "NaN", "NAN", "na", "NA", "N/A", "null", "NULL", "None", "none"]


@dataclass(frozen=True)
class Selection:
    """Which reports to load (applied while reading; everything else is counted, not kept).

    ``bbox`` is (min lat, min lon, max lat, max lon) in degrees, edges included; a min lon
    above the max lon crosses the antimeridian. ``start``/``end`` are UTC nanoseconds, start
    included, end excluded. ``mobile_types`` (aisdk ``Type of mobile``) and ``vessel_types``
    (aisdk ``Ship type`` names, lower case; see :func:`~tsgate.adapters.ais_layouts.ship_type_names`)
    are sets, None keeps all.
    """

    mobile_types: frozenset[str] | None = frozenset({"class a", "class b"})
    vessel_types: frozenset[str] | None = None
    mmsi: np.ndarray | None = None
    bbox: tuple[float, float, float, float] | None = None
    start: int | None = None
    end: int | None = None


def _blocks(fh: Any, chunk_bytes: int) -> Any:
    """(block, whether it holds a quote character): blocks of whole lines of about
    ``chunk_bytes`` (the last line without a newline included), read into two buffers in turn
    without copies: a block stays valid while the next one is read, and is overwritten when the
    one after that is."""
    margin = 1 << 16  # room to complete the last line of a block
    buffers = [bytearray(chunk_bytes + margin), bytearray(chunk_bytes + margin)]
    turn = 0
    while True:
        buf = buffers[turn]
        turn ^= 1
        n = fh.readinto(memoryview(buf)[:chunk_bytes])
        if not n:
            return
        if buf[n - 1] != 0x0A:
            rest = fh.readline()  # complete the last line
            if n + len(rest) > len(buf):  # a line longer than the margin: a bigger buffer
                bigger = bytearray(n + len(rest) + margin)
                bigger[:n] = memoryview(buf)[:n]
                buf = buffers[turn ^ 1] = bigger
            buf[n : n + len(rest)] = rest
            n += len(rest)
        yield memoryview(buf)[:n], buf.find(b'"', 0, n) >= 0


def _lines_in(block: Any) -> int:
    """Lines in a block (a last line without a newline counts)."""
    newlines = int(np.count_nonzero(np.frombuffer(block, dtype=np.uint8) == 0x0A))
    return newlines + (0 if block[-1:] == b"\n" else 1)


def _match(col: pa.Array | pa.ChunkedArray, lookup: Any) -> np.ndarray:
    """[n] ``lookup(text)`` (a bool) of each value of a string column, computed once per distinct
    value (None for an empty field gives ``lookup("")``)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    enc = pc.dictionary_encode(arr)
    names = enc.dictionary.to_pylist()
    table = np.array([bool(lookup((x or "").strip().lower())) for x in names] + [bool(lookup(""))])
    idx = enc.indices.fill_null(len(names)).to_numpy(zero_copy_only=False)
    return table[idx]


class _Reader:
    def __init__(self, name: str, fmt: str, header: list[str], first_value: str, selection: Selection) -> None:
        self.name, self.fmt, self.header, self.sel = name, fmt, header, selection
        spec = COLUMNS[fmt]
        wanted = ["mmsi", "time", "lat", "lon", "sog", "cog", "heading", "mobile"]
        if selection.vessel_types is not None:
            wanted.append("ship")
        if fmt != "aisdk" or selection.mobile_types is None:
            wanted.remove("mobile")
        self.cols = {k: spec[k] for k in wanted if spec[k] is not None and spec[k] in header}
        self.present = set(self.cols)
        self.aware = bool(has_offset(pd.Series([first_value.strip()]))[0]) if first_value.strip() else False
        ttype = pa.timestamp("ns", tz="UTC") if self.aware else pa.timestamp("ns")
        types: dict[str, Any] = {self.cols[k]: pa.float64() for k in _NUMERIC if k in self.cols}
        types[self.cols["time"]] = ttype
        for k in ("mobile", "ship"):
            if k in self.cols:
                types[self.cols[k]] = pa.string() if (k == "mobile" or fmt == "aisdk") else pa.float64()
        fmt_t = TIME_FORMAT[fmt]
        self.read_opts = pacsv.ReadOptions(column_names=header, use_threads=True)
        self.parse_opts = pacsv.ParseOptions(ignore_empty_lines=False)
        self.typed = pacsv.ConvertOptions(
            include_columns=list(self.cols.values()), column_types=types, null_values=_NULLS,
            strings_can_be_null=True, quoted_strings_can_be_null=True, check_utf8=False,
            timestamp_parsers=[fmt_t] if fmt_t else None,
        )
        # aisdk's fixed-width times are decoded from the text with numpy (faster than pyarrow's
        # strptime); a block where that does not apply is parsed again with ``typed``
        self.fast = None
        if fmt == "aisdk" and not self.aware:
            self.fast = pacsv.ConvertOptions(
                include_columns=list(self.cols.values()), column_types={**types, self.cols["time"]: pa.string()},
                null_values=_NULLS, strings_can_be_null=True, quoted_strings_can_be_null=True, check_utf8=False,
            )
        self.text = pacsv.ConvertOptions(
            include_columns=list(self.cols.values()), column_types={c: pa.string() for c in self.cols.values()},
            strings_can_be_null=False, check_utf8=False,
        )

    # ---------------------------------------------------------------- one block → arrays
    def convert(self, data: Any) -> tuple[pa.Table | None, np.ndarray | None]:
        """(the block parsed by pyarrow or None, its times decoded if the fast path applied).
        Needs nothing from earlier blocks, so that it can run while the previous block is selected."""
        if self.fast is not None:
            tab = self._arrow(data, self.fast)
            times = None if tab is None else decode_dmy_hms(tab.column(self.cols["time"]))
            if times is not None:
                return tab, times
        return self._arrow(data, self.typed), None

    def parse(self, data: Any, first_line: int, quoted: bool, converted: Any = None
              ) -> tuple[dict[str, np.ndarray], dict[str, Any], int]:
        """(numeric table of FIELDS, the 'mobile'/'ship' columns, lines in the block) of one block
        (``converted``: what :meth:`convert` gave for it, if called already)."""
        tab, times = self.convert(data) if converted is None else converted
        if tab is not None and not quoted:  # without quotes, one row per line (empty lines included)
            return (*self._from_typed(tab, first_line, times), tab.num_rows)
        n_lines = _lines_in(data)
        if tab is not None and tab.num_rows == n_lines:
            return (*self._from_typed(tab, first_line, times), n_lines)
        return (*self._from_text(data, first_line, n_lines), n_lines)

    def _from_typed(self, tab: pa.Table, first_line: int, times: np.ndarray | None = None
                    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        n = tab.num_rows
        out: dict[str, np.ndarray] = {"line": np.arange(first_line, first_line + n, dtype=np.int64)}
        for k in _NUMERIC:
            if k in self.cols:
                out[k] = tab.column(self.cols[k]).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
            else:
                out[k] = np.full(n, np.nan)
        if times is not None:  # decoded already (every row has a time)
            t_null = np.zeros(n, dtype=bool)
            out["time"] = times
        else:
            tcol = tab.column(self.cols["time"])
            t_null = tcol.is_null().to_numpy(zero_copy_only=False)
            out["time"] = tcol.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        extra: dict[str, Any] = {k: tab.column(self.cols[k]) for k in ("mobile", "ship") if k in self.cols}
        if "ship" in extra and self.fmt != "aisdk":
            extra["ship"] = extra["ship"].to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        blank = t_null & np.isnan(out["mmsi"]) & np.isnan(out["lat"]) & np.isnan(out["lon"])
        if (t_null & ~blank).any():
            i = int(np.flatnonzero(t_null & ~blank)[0])
            raise TimestampError("missing timestamp; every report needs a time.", file=self.name,
                                 column=self.cols["time"], row=int(out["line"][i]))
        out["blank"] = blank
        return out, extra

    def _arrow(self, data: Any, options: pacsv.ConvertOptions) -> pa.Table | None:
        """The block parsed by pyarrow, or None where pyarrow cannot (the slower paths then say why)."""
        try:
            return pacsv.read_csv(pa.py_buffer(data), read_options=self.read_opts, parse_options=self.parse_opts,
                                  convert_options=options, memory_pool=_POOL)
        except pa.ArrowInvalid:
            return None

    def _from_text(self, data: Any, first_line: int, n_lines: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        tab = self._arrow(data, self.text)
        if tab is not None and tab.num_rows == n_lines:
            line = np.arange(first_line, first_line + n_lines, dtype=np.int64)
            text = {k: pd.Series(tab.column(c).to_numpy(zero_copy_only=False), dtype=object) for k, c in self.cols.items()}
        else:
            line, text = self._lines(data, first_line)
        return self._convert(line, text)

    def _lines(self, data: Any, first_line: int) -> tuple[np.ndarray, dict[str, pd.Series]]:
        """Line by line with the csv module: exact line numbers even with quoted line breaks."""
        idx = {k: self.header.index(c) for k, c in self.cols.items()}
        reader = csv.reader(io.StringIO(bytes(data).decode("utf-8", errors="replace"), newline=""))
        rows, lines, start = [], [], 0
        for rec in reader:
            lineno = first_line + start
            start = reader.line_num
            if not rec or rec == [""]:
                continue
            if len(rec) != len(self.header):
                raise DataError(
                    f"has {len(rec)} fields where the header has {len(self.header)}; fix or remove that line.",
                    file=self.name, row=lineno,
                )
            rows.append([rec[i] for i in idx.values()])
            lines.append(lineno)
        arr = np.array(rows, dtype=object).reshape(len(rows), len(idx))
        return np.asarray(lines, dtype=np.int64), {k: pd.Series(arr[:, j], dtype=object) for j, k in enumerate(idx)}

    def _convert(self, line: np.ndarray, text: dict[str, pd.Series]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        strip = {k: s.fillna("").astype(str).str.strip() for k, s in text.items()}
        required = [strip[k] for k in ("mmsi", "time", "lat", "lon")]
        blank = np.logical_and.reduce([(s == "").to_numpy() for s in required])
        if blank.any():  # empty lines, e.g. a trailing one: not data, not counted
            keep = ~blank
            line = line[keep]
            strip = {k: s[keep].reset_index(drop=True) for k, s in strip.items()}
        n = len(line)
        out: dict[str, np.ndarray] = {"line": line}
        for k in _NUMERIC:
            if k not in strip:
                out[k] = np.full(n, np.nan)
                continue
            out[k] = self._numbers(strip[k], k, line)
        out["time"] = self._times(strip["time"], line)
        extra: dict[str, Any] = {}
        if "mobile" in strip:
            extra["mobile"] = pa.array(strip["mobile"].to_numpy(dtype=object), pa.string())
        if "ship" in strip:
            extra["ship"] = (pa.array(strip["ship"].to_numpy(dtype=object), pa.string()) if self.fmt == "aisdk"
                             else self._numbers(strip["ship"], "ship", line))
        out["blank"] = np.zeros(n, dtype=bool)
        return out, extra

    def _numbers(self, s: pd.Series, k: str, line: np.ndarray) -> np.ndarray:
        v = pd.to_numeric(s.str.replace(",", ".", regex=False) if self.fmt == "aisdk" else s, errors="coerce")
        bad = (v.isna() & (s != "") & ~s.str.lower().isin([x.lower() for x in _NULLS])).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SchemaError(f"value {s.iloc[i]!r} is not a number; fix or remove that line.",
                              file=self.name, column=self.cols[k], row=int(line[i]))
        return v.to_numpy(dtype=np.float64, na_value=np.nan)

    def _times(self, ts: pd.Series, line: np.ndarray) -> np.ndarray:
        col = self.cols["time"]
        empty = (ts == "").to_numpy()
        if empty.any():
            i = int(np.flatnonzero(empty)[0])
            raise TimestampError("missing timestamp; every report needs a time.", file=self.name, column=col,
                                 row=int(line[i]))
        odd = has_offset(ts) != self.aware  # the file's first timestamp decides
        if odd.any():
            i = int(np.flatnonzero(odd)[0])
            raise TimestampError(
                f"mixes timestamps with and without a timezone (e.g. {ts.iloc[i]!r}); write all in UTC.",
                file=self.name, column=col, row=int(line[i]),
            )
        fmt = TIME_FORMAT[self.fmt] or "ISO8601"
        parsed = pd.to_datetime(ts, format=fmt, errors="coerce", utc=True)
        if parsed.isna().any():
            i = int(np.flatnonzero(parsed.isna().to_numpy())[0])
            layout = "dd/mm/yyyy HH:MM:SS" if self.fmt == "aisdk" else "ISO 8601 (2020-06-04T03:07:16)"
            raise TimestampError(f"cannot parse timestamp {ts.iloc[i]!r}; the {self.fmt} layout writes {layout}.",
                                 file=self.name, column=col, row=int(line[i]))
        return pd.DatetimeIndex(parsed).as_unit("ns").asi8.astype(np.int64)

    # ---------------------------------------------------------------- filters
    def select(self, out: dict[str, np.ndarray], extra: dict[str, Any], tally: Tally) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """Rows kept from one block (one copy), and with a vessel-type selection which of them matched it."""
        sel = self.sel
        line = out["line"]
        ok = ~out.pop("blank")
        if "mobile" in extra and sel.mobile_types is not None:
            vessel = _match(extra["mobile"], sel.mobile_types.__contains__)
            tally.rows("not a vessel (Type of mobile), dropped", ok & ~vessel, None, line,
                       detail=f"kept {sorted(sel.mobile_types)}")
            ok &= vessel
        ok &= valid_rows(out, tally, ok)

        def narrow(m: np.ndarray, reason: str, detail: str = "") -> None:
            nonlocal ok
            tally.total(reason, int(np.count_nonzero(ok & ~m)), detail=detail)
            ok &= m

        if sel.mmsi is not None:
            narrow(np.isin(out["mmsi"], sel.mmsi), "MMSI not selected, not loaded")
        t = out["time"]
        if sel.start is not None:
            narrow(t >= sel.start, "outside the time window, not loaded")
        if sel.end is not None:
            narrow(t < sel.end, "outside the time window, not loaded")
        if sel.bbox is not None:
            lat0, lon0, lat1, lon1 = sel.bbox
            lat, lon = out["lat"], out["lon"]
            with np.errstate(invalid="ignore"):
                in_lon = (lon >= lon0) & (lon <= lon1) if lon0 <= lon1 else (lon >= lon0) | (lon <= lon1)
                narrow((lat >= lat0) & (lat <= lat1) & in_lon, "outside the area (bbox), not loaded")
        hit = None
        if sel.vessel_types is not None:
            raw = extra.get("ship")
            unknown_names = ("", "undefined", "unknown")
            if raw is None:
                hit, unknown = np.zeros(len(line), dtype=bool), np.ones(len(line), dtype=bool)
            elif self.fmt == "aisdk":
                hit = _match(raw, sel.vessel_types.__contains__)
                unknown = _match(raw, unknown_names.__contains__)
            else:
                names = np.char.lower(ship_type_names(raw).astype(str))
                hit, unknown = np.isin(names, list(sel.vessel_types)), np.isin(names, unknown_names)
            # an unknown type is kept for now: the vessel may state its type in another report
            narrow(hit | unknown, "vessel type not selected, not loaded", detail="another type")
            hit = hit[ok]
        if not ok.all():  # most blocks keep every row: no copy then
            out = take(out, ok)
        out["mmsi"] = out["mmsi"].astype(np.int64)
        decode_motion(out, tally, self.present)
        return out, hit


def read_reports(
    path: Any,
    name: str,
    fmt: str,
    header: list[str],
    first_value: str,
    selection: Selection,
    tally: Tally,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """The selected, decoded reports of a file as arrays (:data:`FIELDS`), in file order, and
    ``{"blocks": blocks read, "lines": data lines in the file}``.

    ``first_value`` is the first data line's timestamp (it decides whether the file's times carry
    offsets); ``tally`` receives every drop and count.
    """
    rd = _Reader(name, fmt, header, first_value, selection)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in FIELDS}
    hits: list[np.ndarray] = []
    n_blocks = 0
    try:
        size = int(path.stat().st_size)
    except (AttributeError, OSError):  # a packaged resource without a file system path
        size = chunk_bytes
    # pyarrow converts block k + 1 in a second thread (it releases the GIL) while block k is
    # selected and decoded here: reading then takes about the parser's time alone
    with path.open("rb") as fh, ThreadPoolExecutor(max_workers=1) as ahead:
        head = fh.readline()
        line = 2 if head.endswith(b"\n") else 1
        blocks = _blocks(fh, max(1024, min(chunk_bytes, size)))
        nxt = next(blocks, None)
        pending = None if nxt is None else ahead.submit(rd.convert, nxt[0])
        while nxt is not None:
            (data, quoted), converted = nxt, pending.result()  # type: ignore[union-attr]
            nxt = next(blocks, None)  # the other buffer: ``data`` stays valid
            pending = None if nxt is None else ahead.submit(rd.convert, nxt[0])
            n_blocks += 1
            out, extra, n_lines = rd.parse(data, line, quoted, converted)
            del converted
            line += n_lines
            if not rd.aware:
                tally.values("naive timestamps interpreted in timezone", ~out["blank"],
                             detail=f"UTC (column {rd.cols['time']!r} had no offsets)")
            out, hit = rd.select(out, extra, tally)
            for k in FIELDS:
                parts[k].append(out[k])
            if hit is not None:
                hits.append(hit)
            del out, extra, hit
            if n_blocks % 4 == 0:
                release_memory()
    table = {}
    for k in FIELDS:  # one column at a time, so that peak memory is the kept rows plus one column
        dtype = np.int64 if k in ("line", "mmsi", "time") else np.float64
        table[k] = np.concatenate(parts.pop(k)) if n_blocks else np.zeros(0, dtype)
        release_memory()
    if selection.vessel_types is not None:
        hit = np.concatenate(hits) if hits else np.zeros(0, bool)
        chosen = np.unique(table["mmsi"][hit])
        keep = np.isin(table["mmsi"], chosen)
        tally.total("vessel type not selected, not loaded", int((~keep).sum()),
                    detail="vessel never reported a selected type")
        table = take(table, keep)
    return table, {"blocks": n_blocks, "lines": line - 2}


def selection_from_args(
    mobile_types: Sequence[str] | None,
    vessel_types: Sequence[str] | None,
    mmsi: Sequence[int] | None,
    bbox: Sequence[float] | None,
    start: int | None,
    end: int | None,
) -> Selection:
    """A :class:`Selection` from already validated arguments (names compared in lower case)."""
    low = lambda xs: None if xs is None else frozenset(str(x).strip().lower() for x in xs)  # noqa: E731
    return Selection(
        mobile_types=low(mobile_types),
        vessel_types=low(vessel_types),
        mmsi=None if mmsi is None else np.asarray(list(mmsi), dtype=np.int64),
        bbox=None if bbox is None else tuple(float(x) for x in bbox),  # type: ignore[arg-type]
        start=start,
        end=end,
    )
