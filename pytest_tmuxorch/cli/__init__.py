"""The ``tmuxorch`` console script: ``args`` (parsing), ``output`` (tables, JSON), ``session``
and ``tasks`` (the subcommands), ``entry`` (the entry point: main)."""

from __future__ import annotations

from .entry import main

__all__ = ["main"]
