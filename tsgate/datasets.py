"""The real data sets bundled with tsgate, by name.

Names: ``extmarker-<rate>-seq<k>`` (rate ``10hz``, ``3.33hz``, ``30hz``; k = 1..9; respiratory
motion of 3 chest markers, mm) and ``ais-virginia``, ``ais-nyharbor``, ``ais-nyharbor-mc`` (vessel
tracks, metres; the last one with reported SOG/COG/heading).
The files live in the package ``tsgate.bundled`` and are read through ``importlib.resources``,
so an installed wheel has them too.

>>> from tsgate.datasets import list_datasets, load_dataset
>>> list_datasets().shape[0]
30
>>> load_dataset("extmarker-3.33hz-seq7")
IrregularSeries(1 series, 242 rows, targets=['x1', 'x2', 'x3', 'y1', 'y2', 'y3', 'z1', 'z2', 'z3'], time=seconds)
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib.resources import files as _resource_files
from typing import Any

import pandas as pd

from tsgate.adapters import ais as _ais
from tsgate.adapters import extmarker as _em
from tsgate.data.repairs import RepairReport
from tsgate.data.schema import SCHEMA, table_schema
from tsgate.data.series import IrregularSeries
from tsgate.exceptions import ConfigError

__all__ = ["list_datasets", "load_dataset", "dataset_report", "dataset_info", "dataset_names", "DatasetInfo"]

# Data rows in the raw files (header excluded; at 10 Hz, rows of each of the 3 marker files,
# including the trailing all-zero row where there is one). Precomputed so that listing is
# instant; tests/test_datasets.py recounts them from the files.
_ROWS = {
    "10hz": (2221, 1384, 1298, 1423, 1308, 1172, 727, 3200, 3062),
    "3.33hz": (740, 461, 432, 474, 435, 390, 242, 1066, 1020),
    "30hz": (6660, 4149, 3891, 4266, 3921, 3513, 2178, 9597, 9183),
    "ais-virginia": 39822,
    "ais-nyharbor": 9091,
    "ais-nyharbor-mc": 8689,
}
_AIS_VESSELS = {"ais-virginia": 84, "ais-nyharbor": 37, "ais-nyharbor-mc": 295}
_AIS_NAMES = tuple(_AIS_VESSELS)
_EXTMARKER_SOURCE = "ExtMarker (Krilavicius et al. 2013; redistributed by Pohl et al. 2022)"
_AIS_SOURCE = "NOAA/USCG MarineCadastre AIS via Sandia tracktable-data"


@dataclass(frozen=True)
class DatasetInfo:
    """What a bundled data set is, where it comes from and how to credit it."""

    name: str
    kind: str
    files: tuple[str, ...]
    rows: int
    series: int
    source: str
    license: str
    credit: str
    description: str


def dataset_names() -> list[str]:
    """Every bundled data set name, in listing order."""
    names = [f"extmarker-{r}-seq{k}" for r in _em.RATES for k in range(1, _em.N_SEQUENCES + 1)]
    return names + list(_AIS_NAMES)


def _parse(name: Any) -> tuple[str, str, int]:
    """('extmarker', rate, seq) or ('ais', key, 0); ConfigError listing the names otherwise."""
    n = str(name).strip().lower()
    if n in _AIS_NAMES:
        return "ais", n, 0
    if n.startswith("extmarker-"):
        parts = n.split("-")
        if len(parts) == 3 and parts[1] in _em.RATES and parts[2].startswith("seq") and parts[2][3:].isdigit():
            k = int(parts[2][3:])
            if 1 <= k <= _em.N_SEQUENCES:
                return "extmarker", parts[1], k
    close = difflib.get_close_matches(n, dataset_names(), n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ConfigError(
        f"unknown data set {name!r}.{hint} Bundled: extmarker-<rate>-seq<k> with rate in "
        f"{list(_em.RATES)} and k = 1..{_em.N_SEQUENCES} (e.g. 'extmarker-10hz-seq1'), "
        f"{', '.join(repr(a) for a in _AIS_NAMES)}. See tsgate.datasets.list_datasets()."
    )


def dataset_info(name: str) -> DatasetInfo:
    """Facts about one bundled data set, without reading it."""
    kind, key, k = _parse(name)
    if kind == "ais":
        fname = _ais.BUNDLED[key.removeprefix("ais-")]
        return DatasetInfo(
            name=key,
            kind="ais",
            files=(f"ais/{fname}",),
            rows=int(_ROWS[key]),
            series=_AIS_VESSELS[key],
            source=_AIS_SOURCE,
            license=_ais.LICENSE,
            credit=_ais.CREDIT,
            description=(
                "AIS vessel position reports (UTC), one series per MMSI; targets east_m, north_m; covariates "
                + ("SOG/COG/heading as reported (MarineCadastre download)" if key == "ais-nyharbor-mc"
                   else "SOG/COG derived from positions (the file has positions only)")
            ),
        )
    paths = _em.extmarker_files(k, key)
    return DatasetInfo(
        name=f"extmarker-{key}-seq{k}",
        kind="extmarker",
        files=tuple(f"extmarker/{key}/{p.name}" for p in paths),
        rows=int(_ROWS[key][k - 1]),
        series=1,
        source=_EXTMARKER_SOURCE,
        license=_em.LICENSE,
        credit=_em.CITATION,
        description=(
            f"respiratory motion, 3 chest markers x (x, y, z) in mm, "
            f"{'raw recordings (3 files)' if key == '10hz' else 'resampled'} at {key}"
        ),
    )


def _size(rel: str) -> int:
    res = _resource_files("tsgate.bundled")
    for part in rel.split("/"):
        res = res / part
    try:
        return int(res.stat().st_size)  # type: ignore[union-attr]
    except AttributeError:  # a resource that is not a plain file (e.g. inside a zip)
        return len(res.read_bytes())


def list_datasets() -> pd.DataFrame:
    """One row per bundled data set: name, kind, files, size, rows, series, source, license, credit.

    ``rows`` counts data rows of the raw files (per marker file at 10 Hz), before any repair;
    nothing is parsed, so this is instant.
    """
    rows = []
    for name in dataset_names():
        info = dataset_info(name)
        size = sum(_size(f) for f in info.files)
        rows.append(
            {
                "name": info.name,
                "kind": info.kind,
                "files": ", ".join(info.files),
                "size_bytes": size,
                "size_mb": round(size / 1e6, 3),
                "rows": info.rows,
                "series": info.series,
                "source": info.source,
                "license": info.license,
                "credit": info.credit,
            }
        )
    return pd.DataFrame(rows)


def load_dataset(name: str, **kw: Any) -> IrregularSeries:
    """Load a bundled data set by name; ``kw`` go to :func:`~tsgate.adapters.extmarker.load_extmarker`
    or :func:`~tsgate.adapters.ais.load_ais` (e.g. ``covariates=()``, ``max_gap="1h"``)."""
    kind, key, k = _parse(name)
    if kind == "ais":
        s = _ais.load_ais(key, **kw)
    else:
        s = _em.load_extmarker(k, key, **kw)
    info = dataset_info(name)
    # new files for a model fitted on a bundled set: AIS files are read by the AIS adapter (same
    # projection); ExtMarker data comes in the tidy layout of ``to_frame()`` (series, time, ...)
    read = dict(s.meta.get(SCHEMA) or {}) if kind == "ais" else table_schema(time_col="time", id_col="series")
    s.meta.update(dataset=info.name, license=info.license, credit=info.credit)
    s.meta[SCHEMA] = {**read, "dataset": info.name}
    return s


def dataset_report(name: str, **kw: Any) -> RepairReport:
    """What loading ``name`` repaired or dropped (see :class:`~tsgate.data.repairs.RepairReport`)."""
    return load_dataset(name, **kw).report
