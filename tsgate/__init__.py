"""tsgate: forecast irregularly sampled time series with gated LSTMs that keep learning online."""
__version__ = "0.1.0"
