"""The one way tsgate limits BLAS threads: :class:`blas_threads`, on threadpoolctl.

Small matrices (batch-1 online steps, ARIMA's Kalman filter) gain nothing from a
multi-threaded BLAS; its synchronisation only costs time, and on a loaded machine a lot
(measured on 2 shared cores: 30-45 ms per online step instead of 0.3-0.5 ms, ARIMA fits 20x
slower). The online learners run their ``step`` and ``apply`` inside ``blas_threads(1)`` by
default and ARIMA fits and forecasts inside it; it lowers the thread count of every loaded
BLAS library and restores it afterwards. Switching costs about 15 us per call; wrap a whole
streaming loop in ``with blas_threads(1):`` to pay it once (nested blocks do nothing).
Not thread-safe: use one streaming thread.
"""

from __future__ import annotations

from typing import Any

__all__ = ["blas_threads", "active"]

_depth = 0
_libs: list[Any] | None = None


def _controllers() -> list[Any]:
    global _libs
    if _libs is None:
        try:
            import scipy.linalg.blas  # noqa: F401  (load scipy's own BLAS so it is controlled)
            from threadpoolctl import ThreadpoolController

            _libs = [c for c in ThreadpoolController().lib_controllers
                     if getattr(c, "user_api", "") == "blas"]
        except Exception:  # pragma: no cover - threadpoolctl missing or unsupported
            _libs = []
    return _libs


def active() -> bool:
    """True inside a :func:`blas_threads` block."""
    return _depth > 0


class blas_threads:
    """Context manager: at most ``n`` BLAS threads inside (re-entrant; nested blocks keep
    the outer limit).

    Examples
    --------
    >>> from tsgate.blas import blas_threads
    >>> with blas_threads(1):
    ...     pass
    """

    def __init__(self, n: int = 1) -> None:
        self.n = max(1, int(n))
        self._saved: list[tuple[Any, int]] = []

    def __enter__(self) -> "blas_threads":
        global _depth
        _depth += 1
        if _depth == 1:
            self._saved = []
            for lib in _controllers():
                old = lib.get_num_threads()
                if old is not None and old > self.n:
                    lib.set_num_threads(self.n)
                    self._saved.append((lib, old))
        return self

    def __exit__(self, *exc: Any) -> None:
        global _depth
        _depth -= 1
        if _depth == 0:
            for lib, old in self._saved:
                lib.set_num_threads(old)
            self._saved = []
