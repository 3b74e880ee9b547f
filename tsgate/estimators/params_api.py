"""scikit-learn's estimator conventions without importing scikit-learn at start-up.

:class:`ParamsMixin` gives every forecaster what ``sklearn.base.BaseEstimator`` gives an
estimator: ``get_params``/``set_params`` derived from ``__init__``'s signature, a ``repr``
showing the parameters that differ from their defaults, ``__sklearn_tags__`` and
``__sklearn_clone__``, so ``sklearn.base.clone`` and scikit-learn's API-convention checks
work on tsgate models unchanged.

Why not derive from ``BaseEstimator``: importing anything from scikit-learn imports
``scipy.stats``, joblib and narwhals (about 1.7 s of a 100-row ``tsgate forecast`` on a busy
machine, more than pandas). A forecast from a saved model uses none of it, so tsgate imports
scikit-learn only where it is used: the linear baseline, ``clone`` in the backtest and the
contract checks, and the ``NotFittedError`` raised before ``fit``.
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["ParamsMixin", "not_fitted_error"]


class ParamsMixin:
    """``get_params``, ``set_params``, ``repr`` and clone support, as scikit-learn defines them."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """Constructor parameter names, sorted (keyword parameters of ``__init__`` only)."""
        init = cls.__init__  # type: ignore[misc]
        if init is object.__init__:
            return []
        params = [p for p in inspect.signature(init).parameters.values() if p.name != "self" and p.kind != p.VAR_KEYWORD]
        if any(p.kind == p.VAR_POSITIONAL for p in params):
            raise RuntimeError(f"{cls.__name__}.__init__ must name its parameters (no *args).")
        return sorted(p.name for p in params)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameter names mapped to their values (``deep``: also those of nested estimators)."""
        out: dict[str, Any] = {}
        for key in self._get_param_names():
            value = getattr(self, key)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{key}__{k}", v) for k, v in value.get_params().items())
            out[key] = value
        return out

    def set_params(self, **params: Any) -> Any:
        """Set parameters (``name=value``, or ``nested__name=value``); returns self."""
        if not params:
            return self
        valid = self.get_params(deep=True)
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            head, sep, sub = key.partition("__")
            if head not in valid:
                raise ValueError(
                    f"Invalid parameter {head!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {self._get_param_names()!r}."
                )
            if sep:
                nested.setdefault(head, {})[sub] = value
            else:
                setattr(self, head, value)
                valid[head] = value
        for head, sub_params in nested.items():
            valid[head].set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        init = inspect.signature(type(self).__init__).parameters
        shown = []
        for name, value in self.get_params(deep=False).items():
            default = init[name].default if name in init else inspect.Parameter.empty
            if default is inspect.Parameter.empty or repr(value) != repr(default):
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def __sklearn_clone__(self) -> Any:
        """A new unfitted estimator with the same parameters (what ``sklearn.base.clone`` returns)."""
        import copy

        params = {k: copy.deepcopy(v) for k, v in self.get_params(deep=False).items()}
        return type(self)(**params)

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's default estimator tags (imported only when scikit-learn asks)."""
        from sklearn.utils import Tags, TargetTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            transformer_tags=None,
            regressor_tags=None,
            classifier_tags=None,
        )


def not_fitted_error(message: str) -> Exception:
    """scikit-learn's ``NotFittedError`` (a ValueError and AttributeError), imported when raised."""
    from sklearn.exceptions import NotFittedError

    return NotFittedError(message)
