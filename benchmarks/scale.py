"""Large AIS files: rows per second and peak memory of loading, cleaning and windowing a
synthetic aisdk day of 10 million rows, side by side with a plain ``pandas.read_csv``.

Run: ``python benchmarks/scale.py`` (10 M rows, about 2 GB written to a temporary folder and
deleted afterwards), ``python benchmarks/scale.py --rows 1000000``, or ``--quick`` (200 k rows,
a sanity run). ``--path FILE`` writes (or reuses, with ``--reuse``) the file there instead; it is
never written inside the repository.

The file is built from the bundled tracks: the Virginia Beach and NY Harbor positions and the
MarineCadastre hour with its SOG/COG/heading, copied again and again, each copy shifted in time
(whole seconds within a day), moved to another place in Danish waters (through the local tangent
plane, so distances, speeds and courses are kept) and given new MMSIs. Defects stay realistic:
the stale repeats, the duplicate pair and the n/a codes of the real files come along (written as
aisdk writes them: decoded numbers, empty fields for "not available"). Rows are in time order, as
aisdk files are, with all 26 aisdk columns.

The file is built, and each measurement runs, in its own process; peak memory is that process's
RSS high-water mark (``VmHWM``, or ``resource.getrusage`` off Linux). A load of the same file restricted to an area (``bbox``) shows that
memory follows the rows kept, not the file size. Goals: ≥ 1 million rows/s loaded and cleaned, peak memory ≤ 2 GB.
Times are wall-clock on this machine; compare the lines of one run with each other.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
AISDK_COLUMNS = [
    "# Timestamp", "Type of mobile", "MMSI", "Latitude", "Longitude", "Navigational status", "ROT", "SOG", "COG",
    "Heading", "IMO", "Callsign", "Name", "Ship type", "Cargo type", "Width", "Length",
    "Type of position fixing device", "Draught", "Destination", "ETA", "Data source type", "A", "B", "C", "D",
]
_STATUS = {0: "Under way using engine", 1: "At anchor", 3: "Restricted maneuverability", 5: "Moored",
           8: "Under way sailing", 15: "Unknown value"}


def _sources() -> list[dict[str, np.ndarray]]:
    """The bundled files as per-row arrays in aisdk units (decoded; NaN = empty field)."""
    import pandas as pd

    from tsgate.adapters.ais import bundled_ais_path
    from tsgate.adapters.ais_layouts import ship_type_names

    out = []
    for key in ("virginia", "nyharbor", "nyharbor-mc"):
        with bundled_ais_path(key).open("rb") as fh:
            df = pd.read_csv(fh)
        if key == "nyharbor-mc":
            cog = df["COG"].to_numpy(dtype=float, copy=True)
            cog = np.where(cog < 0, np.round(cog + 409.6, 1), cog)
            cog[np.abs(cog - 360.0) < 1e-6] = np.nan
            hd = df["Heading"].to_numpy(dtype=float, copy=True)
            hd[hd == 511] = np.nan
            status = df["Status"].map(_STATUS).fillna("Unknown value").to_numpy(dtype=object)
            src = dict(mmsi=df["MMSI"].to_numpy(), t=pd.to_datetime(df["BaseDateTime"], utc=True),
                       lat=df["LAT"].to_numpy(float), lon=df["LON"].to_numpy(float), sog=df["SOG"].to_numpy(float),
                       cog=cog, heading=hd, mobile=np.where(df["TranscieverClass"] == "B", "Class B", "Class A"),
                       ship=ship_type_names(df["VesselType"].to_numpy(float)), status=status,
                       name=df["VesselName"].fillna("").astype(str).str.replace(",", " ").to_numpy(dtype=object),
                       length=df["Length"].to_numpy(float), width=df["Width"].to_numpy(float))
        else:
            n = len(df)
            src = dict(mmsi=df["mmsi"].to_numpy(), t=pd.to_datetime(df["timestamp"], utc=True),
                       lat=df["lat"].to_numpy(float), lon=df["lon"].to_numpy(float), sog=np.full(n, np.nan),
                       cog=np.full(n, np.nan), heading=np.full(n, np.nan), mobile=np.full(n, "Class A", dtype=object),
                       ship=np.full(n, "Undefined", dtype=object), status=np.full(n, "Unknown value", dtype=object),
                       name=np.full(n, "", dtype=object), length=np.full(n, np.nan), width=np.full(n, np.nan))
        t = pd.DatetimeIndex(src.pop("t")).as_unit("s").asi8
        src["t"] = t - t.min()  # seconds from the file's first report
        out.append(src)
    return out


def build_file(path: Path, rows: int, seed: int = 0) -> int:
    """Write a synthetic aisdk file of at least ``rows`` data rows; returns the number written."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    from tsgate.adapters.geo import LocalTangentPlane

    rng = np.random.default_rng(seed)
    sources = _sources()
    per_copy = sum(len(s["t"]) for s in sources)
    copies = -(-rows // per_copy)
    planes = [LocalTangentPlane.around(s["lat"], s["lon"]) for s in sources]
    east_north = [p.forward(s["lat"], s["lon"]) for p, s in zip(planes, sources)]
    parts: dict[str, list[np.ndarray]] = {}
    day0 = np.datetime64("2024-03-01T00:00:00", "s").astype(np.int64)
    for c in range(copies):
        for k, (src, (e, n)) in enumerate(zip(sources, east_north)):
            target = LocalTangentPlane(float(rng.uniform(54.5, 57.5)), float(rng.uniform(8.0, 14.0)))
            lat, lon = target.inverse(e, n)
            ids, local = np.unique(src["mmsi"], return_inverse=True)
            mmsi = 219_000_000 + c * 1200 + k * 400 + local  # ≤ 400 vessels per source
            cols = dict(t=day0 + int(rng.integers(0, 86_400)) + src["t"], mmsi=mmsi, lat=np.round(lat, 6),
                        lon=np.round(lon, 6), **{f: src[f] for f in ("sog", "cog", "heading", "mobile", "ship",
                                                                     "status", "name", "length", "width")})
            for f, v in cols.items():
                parts.setdefault(f, []).append(v)
    data = {f: np.concatenate(v) for f, v in parts.items()}
    order = np.argsort(data["t"], kind="stable")[:rows]
    data = {f: v[order] for f, v in data.items()}
    n = len(order)
    empty = pa.nulls(n, pa.string())

    def num(v: np.ndarray) -> pa.Array:
        return pa.array(v, mask=~np.isfinite(v))

    table = pa.table({
        "# Timestamp": pc.strftime(pa.array(data["t"].astype("datetime64[s]")), format="%d/%m/%Y %H:%M:%S"),
        "Type of mobile": pa.array(data["mobile"], pa.string()),
        "MMSI": pa.array(data["mmsi"]),
        "Latitude": pa.array(data["lat"]),
        "Longitude": pa.array(data["lon"]),
        "Navigational status": pa.array(data["status"], pa.string()),
        "ROT": empty,
        "SOG": num(data["sog"]),
        "COG": num(data["cog"]),
        "Heading": num(data["heading"]),
        "IMO": pa.array(np.full(n, "Unknown", dtype=object), pa.string()),
        "Callsign": pa.array(np.full(n, "Unknown", dtype=object), pa.string()),
        "Name": pa.array(data["name"], pa.string()),
        "Ship type": pa.array(data["ship"], pa.string()),
        "Cargo type": empty,
        "Width": num(data["width"]),
        "Length": num(data["length"]),
        "Type of position fixing device": pa.array(np.full(n, "GPS", dtype=object), pa.string()),
        "Draught": empty,
        "Destination": pa.array(np.full(n, "Unknown", dtype=object), pa.string()),
        "ETA": empty,
        "Data source type": pa.array(np.full(n, "AIS", dtype=object), pa.string()),
        "A": empty, "B": empty, "C": empty, "D": empty,
    })
    with open(path, "wb") as fh:
        fh.write((",".join(AISDK_COLUMNS) + "\n").encode())
        pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    return n


# ----------------------------------------------------------------------------- measurements (children)
def _peak_mb() -> float:
    """This process's RSS high-water mark (MB). Linux's VmHWM belongs to the process image; the
    getrusage figure would also count the parent's memory at fork time (it survives execve)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child_pandas(path: str) -> dict:
    import pandas as pd

    t0, c0 = time.perf_counter(), time.process_time()
    df = pd.read_csv(path)
    return {"rows": len(df), "seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0,
            "peak_mb": _peak_mb()}


#: an area of about a ninth of the synthetic file's (degrees: min lat, min lon, max lat, max lon)
AREA = (55.0, 9.0, 56.0, 11.0)


def child_area(path: str, chunk_mb: int) -> dict:
    from tsgate.adapters.ais import load_ais

    t0 = time.perf_counter()
    s = load_ais(path, chunk_bytes=chunk_mb << 20, bbox=AREA)
    return {"rows_kept": len(s), "seconds": time.perf_counter() - t0, "cpu": sum(s.meta["cpu_s"].values()),
            "peak_mb": _peak_mb()}


def child_tsgate(path: str, chunk_mb: int, window_batch: int) -> dict:
    import pyarrow as pa

    from tsgate.adapters.ais import load_ais
    from tsgate.data.windows import make_windows

    t0 = time.perf_counter()
    s = load_ais(path, chunk_bytes=chunk_mb << 20)
    load_s = time.perf_counter() - t0
    load_peak = _peak_mb()
    # windowing streams over batches of vessels (as a DataModule would): all windows of a 10 M-row
    # file at once would be ~10 GB (16 reports × 7 features × 8 bytes per window)
    ids = np.asarray(s.series_ids)
    sid = s.frame["series"].to_numpy()
    t1, c1 = time.perf_counter(), time.process_time()
    n_windows = 0
    for a in range(0, len(ids), window_batch):
        part = s.take(np.isin(sid, ids[a : a + window_batch]))
        w = make_windows(part, window=16, horizons=["1min", "5min"], max_gap="10min")
        n_windows += len(w)
        del w, part
    win_s, win_cpu = time.perf_counter() - t1, time.process_time() - c1
    return {"rows_in_file": s.meta["rows_in_file"], "rows_kept": len(s), "vessels": s.n_series,
            "load_s": load_s, "timing_s": s.meta["timing_s"], "cpu_s": s.meta["cpu_s"], "load_peak_mb": load_peak,
            "window_s": win_s, "window_cpu": win_cpu, "windows": n_windows, "peak_mb": _peak_mb(), "blocks": s.meta["blocks"],
            "arrow_threads": pa.cpu_count(),
            "report": {k: v for k, v in s.report.by_reason().items()}}


def _reset_peak() -> bool:
    """Reset this process's RSS high-water mark (Linux: ``/proc/self/clear_refs``), so that the
    next :func:`_peak_mb` is the peak of one step; False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


#: rows per chunk of the streamed windowing: a chunk's windows are what it holds beyond the carry;
#: smaller chunks hold less and pay the per-series work of a chunk more often
STREAM_ROWS = (20_000, 100_000)
#: largest kept-row count for which all windows are also cut at once (as WindowDataModule holds them)
ALL_AT_ONCE_ROWS = 2_000_000


def child_stream(path: str, chunk_mb: int, window_batch: int) -> dict:
    """Windowing after one load, each way with its own peak: streamed from time-ordered chunks
    of rows (bounded carry; two chunk sizes), batches of vessels, and all windows at once (small
    files only). The streamed runs go first and memory is given back between steps, so that no
    step's peak starts from an earlier step's."""
    from tsgate.adapters.ais import load_ais
    from tsgate.adapters.ais_report import release_memory
    from tsgate.data.window_stream import SeriesChunks, WindowStream, stream_windows
    from tsgate.data.windows import make_windows

    s = load_ais(path, chunk_bytes=chunk_mb << 20)
    kw = {"window": 16, "horizons": ["1min", "5min"], "max_gap": "10min"}
    out: dict = {"rows_kept": len(s), "vessels": s.n_series, "load_peak_mb": _peak_mb()}

    def measure(key: str, run) -> None:  # noqa: ANN001
        release_memory()
        exact = _reset_peak()
        t0, c0 = time.perf_counter(), time.process_time()
        res = run()
        out[key] = {"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                    "peak_mb": _peak_mb() if exact else None, **res}

    def streamed(rows: int):  # noqa: ANN202
        source = SeriesChunks(s, rows=rows)
        # a voyage ends after max_gap of silence (load_ais's default 30 min): such vessels are released
        ws = WindowStream(source.layout, 16, kw["horizons"], max_gap=kw["max_gap"], evict_after=s.meta["max_gap_s"])
        n = sum(len(w) for w in stream_windows(source, 16, kw["horizons"], stream=ws))
        return {"windows": n, "max_rows_held": ws.max_rows_held}

    def batches():  # noqa: ANN202
        ids, sid = np.asarray(s.series_ids), s.frame["series"].to_numpy()
        return {"windows": sum(len(make_windows(s.take(np.isin(sid, ids[a : a + window_batch])), **kw))
                               for a in range(0, len(ids), window_batch))}

    for rows in STREAM_ROWS:
        measure(f"stream {rows}", lambda: streamed(rows))
    measure("batches", batches)
    if len(s) <= ALL_AT_ONCE_ROWS:
        measure("all", lambda: {"windows": len(make_windows(s, **kw))})
    return out


def print_stream(res: dict) -> None:
    """The windowing section: rows per second and peak memory of each way, and their ratios."""
    rows = res["rows_kept"]
    print(f"\nwindowing after load_ais ({rows:,} rows of {res['vessels']:,} vessels; L=16, 1 and 5 min; peak = "
          "high-water mark of that step alone, the loaded series included)")
    print(f"{'windowing':58s} {'wall s':>7s} {'cpu s':>7s} {'M rows/s':>9s} {'windows':>11s} {'peak MB':>8s}")
    labels = {"all": "in memory, all windows at once (what WindowDataModule holds)",
              "batches": "in memory, batches of vessels",
              **{f"stream {r}": f"streamed, chunks of {r:,} rows (WindowStream)" for r in STREAM_ROWS}}
    for key, label in labels.items():
        r = res.get(key)
        if r is None:
            print(f"{label:58.58s} skipped above {ALL_AT_ONCE_ROWS:,} rows")
            continue
        peak = "" if r["peak_mb"] is None else f"{r['peak_mb']:8.0f}"
        print(f"{label:58.58s} {r['seconds']:7.2f} {r['cpu']:7.2f} {rows / r['seconds'] / 1e6:9.2f} {r['windows']:11,} {peak}")
    ref_key = "all" if "all" in res else "batches"
    ref = res[ref_key]
    for rows_per in STREAM_ROWS:
        st = res[f"stream {rows_per}"]
        same = "the same" if st["windows"] == ref["windows"] else "NOT the same"
        peak = f"{st['peak_mb'] / ref['peak_mb']:.2f}x" if st["peak_mb"] and ref["peak_mb"] else "n/a"
        print(f"streamed ({rows_per:,}-row chunks) / in memory ({ref_key}): wall {st['seconds'] / ref['seconds']:.2f}x, "
              f"cpu {st['cpu'] / ref['cpu']:.2f}x, peak memory {peak}; {same} number of windows; rows held at most "
              f"{st['max_rows_held']:,} ({st['max_rows_held'] / rows:.2%} of the rows)")


def _run_child(args: list[str]) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env,
                         check=False)
    if out.returncode != 0:
        raise SystemExit(f"measurement {args[0]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="rows of the synthetic file (default 10 M)")
    ap.add_argument("--quick", action="store_true", help="a sanity run: 200 k rows")
    ap.add_argument("--path", type=Path, default=None, help="write the file here (default: a temporary folder)")
    ap.add_argument("--reuse", action="store_true", help="with --path: use an existing file as it is")
    ap.add_argument("--chunk-mb", type=int, default=32, help="block size load_ais reads (MiB)")
    ap.add_argument("--window-batch", type=int, default=500, help="vessels windowed at a time")
    ap.add_argument("--skip-pandas", action="store_true", help="leave out the pandas.read_csv comparison")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        kind, path, *rest = args.child
        if kind == "build":
            res = {"rows": build_file(Path(path), int(rest[0]))}
        elif kind == "pandas":
            res = child_pandas(path)
        elif kind == "area":
            res = child_area(path, int(rest[0]))
        elif kind == "stream":
            res = child_stream(path, int(rest[0]), int(rest[1]))
        else:
            res = child_tsgate(path, int(rest[0]), int(rest[1]))
        print(json.dumps(res))
        return 0
    rows = 200_000 if args.quick else args.rows
    tmp = None
    if args.path is None:
        tmp = Path(tempfile.mkdtemp(prefix="tsgate-scale-"))
        path = tmp / "aisdk_synthetic.csv"
    else:
        path = args.path.resolve()
        if REPO in path.parents:
            raise SystemExit(f"--path {path} is inside the repository; write the file elsewhere.")
    try:
        if args.reuse and path.exists():
            print(f"file: {path} (reused, {path.stat().st_size / 1e9:.2f} GB)")
        else:
            t0 = time.perf_counter()
            n = _run_child(["build", str(path), str(rows)])["rows"]  # in a child: this process stays small
            print(f"file: {path}: {n:,} rows, {path.stat().st_size / 1e9:.2f} GB (built in {time.perf_counter() - t0:.0f} s)")
        ts = _run_child(["tsgate", str(path), str(args.chunk_mb), str(args.window_batch)])
        area = _run_child(["area", str(path), str(args.chunk_mb)])
        pd_res = None if args.skip_pandas else _run_child(["pandas", str(path)])
        n = ts["rows_in_file"]
        tm, cp = ts["timing_s"], ts["cpu_s"]
        lc, lc_cpu = tm["read"] + tm["clean"], cp["read"] + cp["clean"]
        print(f"\nrows in file {n:,}; kept {ts['rows_kept']:,} rows of {ts['vessels']:,} vessels; "
              f"{ts['blocks']} blocks of {args.chunk_mb} MiB; {ts['windows']:,} windows (L=16, 1 and 5 min)")
        print("wall = elapsed seconds; cpu = CPU seconds of the process, all threads (less sensitive to a busy machine); "
              f"pyarrow CPU threads {ts['arrow_threads']} (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '1')}), "
              "plus one thread converting the next block")
        print(f"{'step':58s} {'wall s':>7s} {'cpu s':>7s} {'M rows/s':>9s} {'M rows/cpu-s':>13s} {'peak MB':>8s}")
        lines = [
            ("load_ais: read (parse, select, decode)", tm["read"], cp["read"], n, None),
            ("load_ais: clean (order, duplicates, jumps, voyages)", tm["clean"], cp["clean"], n, None),
            ("load_ais: read + clean", lc, lc_cpu, n, None),
            ("load_ais: covariates (SOG/COG/heading/velocity)", tm["motion"], cp["motion"], n, None),
            ("load_ais: report, projection, series", tm["series"], cp["series"], n, None),
            ("load_ais: total", ts["load_s"], sum(cp.values()), n, ts["load_peak_mb"]),
            ("windows, batches of vessels (after loading)", ts["window_s"], ts["window_cpu"], ts["rows_kept"],
             ts["peak_mb"]),
        ]
        lines.append((f"load_ais, bbox {AREA}: {area['rows_kept']:,} kept", area["seconds"], area["cpu"], n,
                      area["peak_mb"]))
        if pd_res is not None:
            lines.append(("pandas.read_csv(file), all columns, no cleaning", pd_res["seconds"], pd_res["cpu"],
                          pd_res["rows"], pd_res["peak_mb"]))
        for label, sec, cpu, r, peak in lines:
            print(f"{label:58.58s} {sec:7.2f} {cpu:7.2f} {r / sec / 1e6:9.2f} {r / cpu / 1e6:13.2f} "
                  f"{'' if peak is None else f'{peak:8.0f}'}")
        if pd_res is not None:
            print(f"\nratio load_ais total / pandas.read_csv: wall {ts['load_s'] / pd_res['seconds']:.2f}x, "
                  f"cpu {sum(cp.values()) / pd_res['cpu']:.2f}x, peak memory {ts['load_peak_mb'] / pd_res['peak_mb']:.2f}x")
        print(f"goal >= 1 M rows/s loaded and cleaned: {'met' if n / lc >= 1e6 else 'NOT met'} "
              f"({n / lc / 1e6:.2f} M rows/s wall, {n / lc_cpu / 1e6:.2f} M rows per cpu-second); "
              f"goal peak <= 2 GB: {'met' if ts['peak_mb'] <= 2048 else 'NOT met'} ({ts['peak_mb']:.0f} MB)")
        print_stream(_run_child(["stream", str(path), str(args.chunk_mb), str(args.window_batch)]))
        print("\nrepair report, by reason:")
        for k, v in ts["report"].items():
            print(f"  {k}: {v:,}")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
