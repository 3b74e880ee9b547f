"""The data layer: raw frames become validated irregular series, series become causal windows.

pandas stops here; everything downstream of :mod:`tsgate.data.windows` is numpy.
"""
