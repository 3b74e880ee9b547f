"""The estimator contract: the forecaster base, model files and the contract checks."""
