"""Forecasting's domain words: the refusal when a series is too short to forecast.

STAND-IN: replaced at merge by the engine helper's module (only `NotEnoughHistory` is used
by the pages, with its `.needed_steps` and `.have_steps`).
"""

from __future__ import annotations


class NotEnoughHistory(Exception):
    """A series has fewer steps of history than a forecast or a band needs."""

    def __init__(self, needed_steps: int, have_steps: int) -> None:
        super().__init__(f"needs {needed_steps} steps of history, has {have_steps}")
        self.needed_steps = needed_steps
        self.have_steps = have_steps
