"""Torch modules with the maths only: recurrent encoders (cells) and the forecasting network."""
