"""The mentorhub service: the hub-side holder of shared state and secrets."""

__version__ = "0.1.0"
