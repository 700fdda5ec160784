"""Field metadata the record schema's areas share (``contracts.record`` collects the areas)."""
from __future__ import annotations

from dataclasses import field
from typing import Any

VIEW = "view"  # field metadata: a column every report view may group or filter by (present even when unset)


def view() -> Any:
    """A field that defaults to None and is a column of every report view."""
    return field(default=None, metadata={VIEW: True})
