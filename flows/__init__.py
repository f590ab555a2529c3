"""Prefect flows: they wire tasks together and branch on returned values."""
