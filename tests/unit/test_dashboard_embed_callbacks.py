"""The Embed dialog's callbacks called directly, on real PostgreSQL and Redis: an analyst
mints a token (the snippet opens /embed/<token>), sees the dashboard's live tokens and
revokes one; a viewer and another tenant mint and revoke nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from dash.exceptions import PreventUpdate

from app.services import Services
from callbacks.dashboard_draw import actor_of
from callbacks.dashboard_embed import EmbedDesk, create_embed, open_embed, revoke_embed
from components import ids
from components.dashboard_embed import LIFETIMES
from data.domain.embeds import EmbedTokenError
from data.stores.accounts import User
from tests.dashboards_support import doc, new_tenant
from tests.unit.page_text import text_of

ROOT = "https://pulse.example/"
DAY = "86400"


@pytest.fixture
def desk(services: Services) -> EmbedDesk:
    return EmbedDesk.of(services)


def made(desk: EmbedDesk, user: User, shared: bool = True) -> dict:
    return desk.store.create(actor_of(user), doc("Embedded", shared)).as_dict()


def minted(desk: EmbedDesk, user: User, resource: dict, ttl: str = DAY, sources=None) -> tuple:
    return create_embed(desk, user, ROOT, 1, ttl, sources or [], resource)


def test_an_analyst_opens_creates_and_revokes(desk: EmbedDesk, analyst: User) -> None:
    board = made(desk, analyst)
    opened = open_embed(desk, analyst, ids.DASH_EMBED_OPEN, 1, [], board)
    assert opened[0] is True and opened[1] == {"type": "dashboard", "dashboard_id": board["id"]}
    assert "No live embed links" in text_of(opened[-1])
    *errors, hidden, code, expiry, rows = minted(desk, analyst, opened[1], sources=["web-1"])
    assert errors == ["", "", ""] and hidden is False and expiry.startswith("Expires ")
    assert code.startswith(f'<iframe src="{ROOT}embed/') and 'frameborder="0"' in code
    token = code.split("/embed/", 1)[1].split('"', 1)[0]
    claims = desk.tokens.verify(token)
    assert claims.sources == ("web-1",) and claims.resource.dashboard_id == board["id"]
    assert claims.expires_at - desk.tokens.clock() == pytest.approx(86_400, abs=5)
    live = desk.live_of(analyst, board["id"])
    assert [r["jti"] for r in live] == [claims.jti] and "web-1" in text_of(rows)
    left = revoke_embed(
        desk, analyst, {"type": ids.DASH_EMBED_REVOKE, "index": claims.jti}, [1], opened[1]
    )
    assert "No live embed links" in text_of(left)
    with pytest.raises(EmbedTokenError, match="revoked"):
        desk.tokens.verify(token)


def test_a_widget_embed_names_its_widget(desk: EmbedDesk, analyst: User) -> None:
    board = made(desk, analyst, shared=False)
    trigger = {"type": ids.DASH_EMBED_WIDGET, "index": "orders"}
    opened = open_embed(desk, analyst, trigger, None, [1, None], board)
    assert opened[1] == {"type": "widget", "dashboard_id": board["id"], "widget_id": "orders"}
    code = minted(desk, analyst, opened[1], ttl=str(LIFETIMES[0][0]))[4]
    token = code.split("/embed/", 1)[1].split('"', 1)[0]
    assert desk.tokens.verify(token).resource.widget_id == "orders"
    gone = {"type": ids.DASH_EMBED_WIDGET, "index": "no-such-widget"}
    with pytest.raises(PreventUpdate):
        open_embed(desk, analyst, gone, None, [1], board)


def test_bad_fields_are_shown_in_the_form_and_mint_nothing(desk: EmbedDesk, analyst: User) -> None:
    board = made(desk, analyst)
    resource = {"type": "dashboard", "dashboard_id": board["id"]}
    ttl_error, sources_error, other, hidden, code, *_ = minted(desk, analyst, resource, ttl="5")
    assert "60" in ttl_error and sources_error == "" and hidden is True and code == ""
    answer = minted(desk, analyst, resource, sources=["bad source!"])
    assert answer[0] == "" and answer[1] and answer[3] is True
    answer = minted(desk, analyst, resource, ttl="soon")
    assert answer[0] and answer[3] is True
    assert desk.live_of(analyst, board["id"]) == []


def test_a_viewer_mints_lists_and_revokes_nothing(
    desk: EmbedDesk, analyst: User, viewer: User
) -> None:
    board = made(desk, analyst)
    resource = {"type": "dashboard", "dashboard_id": board["id"]}
    code = minted(desk, analyst, resource)[4]
    jti = desk.live_of(analyst, board["id"])[0]["jti"]
    with pytest.raises(PreventUpdate):
        open_embed(desk, viewer, ids.DASH_EMBED_OPEN, 1, [], board)
    with pytest.raises(PreventUpdate):
        minted(desk, viewer, resource)
    with pytest.raises(PreventUpdate):
        revoke_embed(desk, viewer, {"type": ids.DASH_EMBED_REVOKE, "index": jti}, [1], resource)
    assert [r["jti"] for r in desk.live_of(analyst, board["id"])] == [jti]
    assert desk.tokens.verify(code.split("/embed/", 1)[1].split('"', 1)[0]).jti == jti


def test_another_tenants_dashboard_is_not_found(
    services: Services, desk: EmbedDesk, analyst: User, make_user: Callable[..., User]
) -> None:
    board = made(desk, analyst)
    resource = {"type": "dashboard", "dashboard_id": board["id"]}
    minted(desk, analyst, resource)
    jti = desk.live_of(analyst, board["id"])[0]["jti"]
    stranger = make_user(new_tenant(services), "admin")
    with pytest.raises(PreventUpdate):
        open_embed(desk, stranger, ids.DASH_EMBED_OPEN, 1, [], board)
    answer = minted(desk, stranger, resource)
    assert answer[2] == "There is no such dashboard or widget." and answer[3] is True
    with pytest.raises(PreventUpdate):
        revoke_embed(desk, stranger, {"type": ids.DASH_EMBED_REVOKE, "index": jti}, [1], resource)
    assert desk.tokens.live(stranger.tenant_id) == []
    assert [r["jti"] for r in desk.live_of(analyst, board["id"])] == [jti]
