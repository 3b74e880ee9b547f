"""Adapters: raw files of a known layout → validated :class:`~tsgate.data.series.IrregularSeries`.

- :mod:`tsgate.adapters.extmarker`: ExtMarker respiratory-motion recordings (mm).
- :mod:`tsgate.adapters.ais`: AIS vessel reports (bundled, MarineCadastre, aisdk) → metres, with
  speed/course covariates; its steps live in ``ais_layouts`` (columns, formats), ``ais_reader``
  (reading in blocks, selection), ``ais_decoding`` (n/a codes), ``ais_cleaning`` (order,
  duplicates, voyages), ``ais_jumps`` (the position filter), ``ais_motion`` (covariates) and
  ``ais_report`` (the repair-report tally).
- :mod:`tsgate.adapters.geo`: the local tangent-plane projection and great-circle distances.
"""

from tsgate.adapters.ais import COVARIATES, JumpRules, load_ais, to_latlon
from tsgate.adapters.extmarker import extmarker_split, load_extmarker, load_extmarker_split, read_extmarker_raw
from tsgate.adapters.geo import LocalTangentPlane

__all__ = [
    "load_ais",
    "to_latlon",
    "JumpRules",
    "COVARIATES",
    "load_extmarker",
    "load_extmarker_split",
    "extmarker_split",
    "read_extmarker_raw",
    "LocalTangentPlane",
]
