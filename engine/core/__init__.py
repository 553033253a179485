"""Configuration shared by the engine's components."""
