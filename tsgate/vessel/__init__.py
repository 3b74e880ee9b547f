"""The gated vessel-track model: features (numpy), network (torch/Lightning), estimator.

Importing this package registers :class:`VesselLSTMForecaster` for
:func:`tsgate.estimators.base.load`.
"""

from tsgate.vessel.model import VesselLSTMForecaster

__all__ = ["VesselLSTMForecaster"]
