"""Configuration shared by the engine's components."""

from engine.core.config import Config, DetectorSettings

__all__ = ["Config", "DetectorSettings"]
