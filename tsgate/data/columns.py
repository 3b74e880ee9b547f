"""The column names of the long format every series is stored in, and plain id values.

``IrregularSeries.frame`` has the columns ``series`` (:data:`ID`), ``time`` (:data:`TIME`), the
target, covariate and static columns, ``segment`` (:data:`SEGMENT`) and ``_row``
(:data:`ROW`, the line of each row in the user's file, for messages).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ID", "TIME", "SEGMENT", "ROW", "plain"]

ID, TIME, SEGMENT, ROW = "series", "time", "segment", "_row"


def plain(x: Any) -> Any:
    """A numpy scalar as the Python value (so messages read ``series 3``, not ``np.int64(3)``,
    and ids can be written to JSON)."""
    return x.item() if isinstance(x, np.generic) else x
