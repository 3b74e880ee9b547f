"""The estimator contract every forecaster follows.

:mod:`~tsgate.estimators.base` (the public API), the two styles
(:mod:`~tsgate.estimators.window`, :mod:`~tsgate.estimators.stream`), class
:mod:`~tsgate.estimators.tags`, declarative :mod:`~tsgate.params`, the
:mod:`~tsgate.estimators.registry` of loadable classes, :mod:`~tsgate.estimators.forecasts`,
the fitted :mod:`~tsgate.estimators.history`, model files (:mod:`~tsgate.estimators.persistence`)
and the contract suite (:mod:`~tsgate.estimators.checks`). See ``docs/architecture.md``.
"""
