"""Users of the test tenant, for the page callbacks' tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from data.stores.accounts import User


@pytest.fixture
def analyst(tenant: str, make_user: Callable[..., User]) -> User:
    """An analyst of the test tenant: may edit rules and export."""
    return make_user(tenant, "analyst")


@pytest.fixture
def viewer(tenant: str, make_user: Callable[..., User]) -> User:
    """A viewer of the test tenant: reads only."""
    return make_user(tenant, "viewer")
