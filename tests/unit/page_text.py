"""Reading what a callback answered: the text of a Dash component tree."""

from __future__ import annotations

from typing import Any


def text_of(component: Any) -> str:
    """Every string in `component` and its children, space-separated."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(text_of(c) for c in component)
    return text_of(getattr(component, "children", None))
