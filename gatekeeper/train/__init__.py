"""The candidate: the default pipeline or the user's trainer, fitted; model outputs aligned to classes."""
