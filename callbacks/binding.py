"""How a page's module-level callback functions are handed to Dash: what the request knows
(the signed-in user, the clicked component) is read at call time and passed in explicitly,
so the functions themselves run — and are tested — without a request."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from dash import ctx
from flask_login import current_user

from data.stores.accounts import User


def signed_in() -> User:
    """The user of the running request."""
    return current_user.user


def triggered_id() -> Any:
    """The id of the component whose change ran the callback."""
    return ctx.triggered_id


def clicked_id() -> Any:
    """The id of the component whose click ran the callback, or None when nothing was
    really clicked (a first render, a re-rendered button with no clicks)."""
    if not ctx.triggered or not ctx.triggered[0].get("value"):
        return None
    return ctx.triggered_id


def bind(
    func: Callable[..., Any],
    *bound: Any,
    at_call: tuple[Callable[[], Any], ...] = (signed_in,),
) -> Callable[..., Any]:
    """`func` as a Dash callback: called with `bound`, then what each of `at_call` reads
    from the request, then Dash's inputs and states. It keeps `func`'s name and module, by
    which Dash's callback map (and the permission matrix) names it."""

    @functools.wraps(func)
    def callback(*args: Any) -> Any:
        return func(*bound, *(read() for read in at_call), *args)

    return callback
