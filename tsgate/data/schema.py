"""The data schema: how a data set was read, kept with the data and in every model file.

A fitted model records the schema of its training data (``data_schema_``, the ``data`` entry of
``model.json``), so that new data for ``forecast`` and ``update`` is read the same way without
naming the columns again:

``adapter``
    ``"table"`` (a long-format CSV/parquet file or frame), ``"ais"`` (an AIS file read by
    :func:`tsgate.load_ais`) or another adapter's name.
``dataset``
    The bundled data set's name, when the data came from one.
``time_col``, ``id_col``, ``segment_col``
    The file's time, series-id and segment columns (table files; ``None``: not used).
``time_kind``
    ``"datetime"`` (UTC) or ``"seconds"``.
``targets``, ``covariates``, ``static``, ``units``
    The value columns and their units.
``policies``
    The repair policies (``on_nan``, ``on_duplicate``, ``on_unsorted``) of a table file.
``options``
    The adapter's own options (AIS: ``fmt``, ``max_speed_kn``, ``max_gap``, ``origin`` of the
    projection in degrees, ...), enough to read a new file onto the same coordinates.
``ignored``
    Columns left out of the default targets (unnamed index columns such as ``Unnamed: 0``).

The readers put the reading part (all but the value columns) in ``series.meta["schema"]``;
:func:`data_schema` completes it from the series.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from tsgate.data.columns import plain

__all__ = [
    "SCHEMA",
    "POLICIES",
    "is_unnamed_index",
    "table_schema",
    "data_schema",
    "check_matches",
    "describe_columns",
]

#: the key of ``IrregularSeries.meta`` that holds how the data was read
SCHEMA = "schema"
#: the repair policies of a table file, with their defaults
POLICIES = {"on_nan": "error", "on_duplicate": "error", "on_unsorted": "error"}

# pandas names a column without a header ``Unnamed: 0`` (the index written by ``to_csv()``)
_UNNAMED = re.compile(r"^Unnamed: \d+(_level_\d+)?$")


def is_unnamed_index(name: Any) -> bool:
    """Whether a column name is the one pandas gives a column without a header (``Unnamed: 0``)."""
    return isinstance(name, str) and bool(_UNNAMED.match(name))


def table_schema(
    *,
    time_col: Any,
    id_col: Any,
    segment_col: Any = None,
    policies: dict[str, str] | None = None,
    ignored: Sequence[Any] = (),
) -> dict[str, Any]:
    """The reading part of a table file's schema (see the module docstring)."""
    return {
        "adapter": "table",
        "time_col": plain(time_col),
        "id_col": plain(id_col) if id_col is not None else None,
        "segment_col": plain(segment_col) if segment_col is not None else None,
        "policies": {**POLICIES, **(policies or {})},
        "ignored": [plain(c) for c in ignored],
    }


def data_schema(series: Any) -> dict[str, Any]:
    """The full schema of an ``IrregularSeries``: how it was read plus its value columns."""
    read = dict(series.meta.get(SCHEMA) or {})
    read.setdefault("adapter", "table")
    return {
        **read,
        "targets": list(series.targets),
        "covariates": list(series.covariates),
        "static": list(series.static),
        "time_kind": series.time_kind,
        "units": dict(series.units),
    }


def check_matches(series: Any, schema: dict[str, Any]) -> None:
    """Refuse data whose value columns or kind of time differ from a model's (SchemaError naming both)."""
    from tsgate.exceptions import SchemaError

    if tuple(series.targets) != tuple(schema["targets"]):
        raise SchemaError(
            f"the model forecasts targets {list(schema['targets'])}, the data has {list(series.targets)}; "
            "pass data with the same target columns.",
            file=series.source,
        )
    covs, static = tuple(schema.get("covariates") or ()), tuple(schema.get("static") or ())
    if tuple(series.covariates) != covs or tuple(series.static) != static:
        raise SchemaError(
            f"the model uses covariates {list(covs)} and static {list(static)}, "
            f"the data has {list(series.covariates)} and {list(series.static)}.",
            file=series.source,
        )
    if series.time_kind != schema["time_kind"]:
        raise SchemaError(
            f"the model was fitted on {schema['time_kind']} times, the data has {series.time_kind} times"
            f"{' (plain numbers, read as seconds)' if series.time_kind == 'seconds' else ' (timestamps)'}.",
            file=series.source,
        )


def describe_columns(schema: dict[str, Any]) -> str:
    """The columns of a schema in words, for messages (``time column 't', id column 'sid'``)."""
    parts = []
    if schema.get("time_col") is not None:
        parts.append(f"time column {schema['time_col']!r} ({schema.get('time_kind', '?')})")
    parts.append(f"id column {schema['id_col']!r}" if schema.get("id_col") is not None else "no id column")
    parts.append(f"targets {list(schema.get('targets', []))}")
    if schema.get("covariates"):
        parts.append(f"covariates {list(schema['covariates'])}")
    if schema.get("static"):
        parts.append(f"static {list(schema['static'])}")
    return ", ".join(parts)
