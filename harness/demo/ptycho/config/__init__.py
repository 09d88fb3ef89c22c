"""Dataclass configuration and its bridge to the legacy ``params.cfg``."""
