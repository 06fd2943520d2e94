"""The seed's trading signal models: re-exported from ``shared.models.signals`` (one definition)."""

from shared.models.signals import EntrySignal, ExitSignal  # noqa: F401

__all__ = ["EntrySignal", "ExitSignal"]
