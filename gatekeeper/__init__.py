"""Retraining gatekeeper: decide whether a retrained model may replace the champion."""

__version__ = "0.1.0"
