"""Data: loading the tables, structural and per-segment checks, drift, GX suites and starter suites."""
