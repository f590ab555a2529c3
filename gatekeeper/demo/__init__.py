"""The demo: a seeded transaction simulator and its scenarios."""
