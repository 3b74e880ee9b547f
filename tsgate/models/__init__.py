"""Forecasting models: recurrent cells (maths only), Lightning modules and estimators."""
