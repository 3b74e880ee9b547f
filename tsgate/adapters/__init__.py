"""Adapters: raw files of a known layout → validated :class:`~tsgate.data.series.IrregularSeries`.

- :mod:`tsgate.adapters.extmarker`: ExtMarker respiratory-motion recordings (mm).
- :mod:`tsgate.adapters.ais`: AIS vessel reports (bundled, MarineCadastre, aisdk) → metres.
- :mod:`tsgate.adapters.geo`: the local tangent-plane projection and great-circle helpers.
"""

from tsgate.adapters.ais import load_ais, to_latlon
from tsgate.adapters.extmarker import (
    extmarker_split,
    load_extmarker,
    load_extmarker_split,
    read_extmarker_raw,
)
from tsgate.adapters.geo import LocalTangentPlane

__all__ = [
    "load_ais",
    "to_latlon",
    "load_extmarker",
    "load_extmarker_split",
    "extmarker_split",
    "read_extmarker_raw",
    "LocalTangentPlane",
]
