"""Labelled example data the engine can generate on its own (demos, tests, smoke checks)."""
