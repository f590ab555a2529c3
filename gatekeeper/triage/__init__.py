"""Triage: before training, is retraining warranted and can the labels be trusted; after, did it help."""
