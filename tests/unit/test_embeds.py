"""Embed tokens and scopes (data/domain/embeds.py), pure: what a token says and refuses to
say, and which series an embed may show."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeSerializer

from app.tokens import StreamTokens
from data.domain.dashboards import parse_dashboard
from data.domain.embeds import (
    AUDIENCE,
    SALT,
    EmbedResource,
    EmbedSigner,
    EmbedTokenError,
    check_narrowing,
    embed_scopes,
    new_claims,
    parse_embed_request,
    series_in_scope,
)
from data.domain.errors import Forbidden, Invalid, NotFound

SECRET = "s" * 32
NOW = 1_800_000_000.0
SPEC = parse_dashboard(
    {
        "title": "Ops",
        "filters": {"source": ["web-*"]},
        "widgets": [
            {
                "id": "cpu",
                "type": "line",
                "query": {"metric": ["cpu.*"]},
                "layout": {"x": 0, "y": 0, "w": 6, "h": 4},
            },
            {
                "id": "db",
                "type": "kpi",
                "query": {"metric": ["db.qps"], "source": ["db-1"]},
                "layout": {"x": 6, "y": 0, "w": 6, "h": 4},
            },
        ],
    }
)
KNOWN = {
    ("cpu.usage", "web-1"),
    ("cpu.usage", "web-2"),
    ("cpu.usage", "db-1"),
    ("db.qps", "db-1"),
    ("db.qps", "web-1"),
    ("mem.used", "web-1"),
}


def test_a_token_says_what_it_was_signed_with_until_it_expires() -> None:
    signer = EmbedSigner(SECRET)
    claims = new_claims("acme", EmbedResource("widget", "d1", "cpu"), ("web-1",), 60, NOW)
    token = signer.sign(claims)
    assert signer.read(token, NOW + 59) == claims
    with pytest.raises(EmbedTokenError) as expired:
        signer.read(token, NOW + 60)
    assert expired.value.reason == "expired"


@pytest.mark.parametrize(
    "forge",
    [
        # altered signature: a character inside it (the last one's low bits may be padding,
        # which decodes to the same bytes whatever they are)
        lambda t: t[:-5] + ("A" if t[-5] != "A" else "B") + t[-4:],
        lambda t: EmbedSigner("other" * 8).sign(  # another secret
            new_claims("acme", EmbedResource("dashboard", "d1"), (), 60, NOW)
        ),
        lambda t: URLSafeSerializer(SECRET, salt=SALT).dumps(  # genuine, but not for embeds
            {
                "t": "acme",
                "r": {"type": "dashboard", "dashboard_id": "d1"},
                "f": {"source": []},
                "aud": "stream",
                "exp": NOW + 60,
                "jti": "x",
            }
        ),
        lambda t: URLSafeSerializer(SECRET, salt=SALT).dumps({"aud": AUDIENCE}),  # incomplete
        lambda t: StreamTokens(SECRET, 60, clock=lambda: NOW).issue("acme"),  # a stream token
    ],
)
def test_anything_but_a_genuine_embed_token_is_invalid(forge) -> None:  # type: ignore[no-untyped-def]
    token = EmbedSigner(SECRET).sign(
        new_claims("acme", EmbedResource("dashboard", "d1"), (), 60, NOW)
    )
    with pytest.raises(EmbedTokenError) as refused:
        EmbedSigner(SECRET).read(forge(token), NOW)
    assert refused.value.reason == "invalid"


def test_an_embed_token_is_no_stream_token() -> None:
    token = EmbedSigner(SECRET).sign(
        new_claims("acme", EmbedResource("dashboard", "d1"), (), 60, NOW)
    )
    assert StreamTokens(SECRET, 60, clock=lambda: NOW).verify(token) is None


def test_a_request_is_read_with_one_detail_per_bad_field() -> None:
    resource, ttl, sources = parse_embed_request(
        {"resource": {"type": "dashboard", "dashboard_id": "d1"}, "filters": {"source": ["a", "a"]}}
    )
    assert (resource, ttl, sources) == (EmbedResource("dashboard", "d1"), 600, ("a",))
    with pytest.raises(Invalid) as bad:
        parse_embed_request({"resource": {"type": "pie", "dashboard_id": ""}, "ttl_s": 0})
    fields = {d["field"] for d in bad.value.details}
    assert fields == {"resource.type", "resource.dashboard_id", "ttl_s"}


def test_a_widget_embed_shows_its_widgets_series_within_the_locked_sources() -> None:
    [(widget, scope)] = embed_scopes(SPEC, EmbedResource("widget", "d", "cpu"), ("web-1",))
    assert widget.id == "cpu"
    assert series_in_scope(scope, KNOWN) == (("cpu.usage",), ("web-1",))
    assert not scope.allows("cpu.usage", "web-2") and not scope.allows("mem.used", "web-1")
    with pytest.raises(NotFound):
        embed_scopes(SPEC, EmbedResource("widget", "d", "gone"), ())


def test_a_dashboard_embed_keeps_each_widgets_own_sources_and_the_dashboards_filter() -> None:
    scopes = dict((w.id, s) for w, s in embed_scopes(SPEC, EmbedResource("dashboard", "d"), ()))
    # the dashboard's filter web-* holds for the widget without sources of its own
    assert series_in_scope(scopes["cpu"], KNOWN) == (("cpu.usage",), ("web-1", "web-2"))
    assert series_in_scope(scopes["db"], KNOWN) == (("db.qps",), ("db-1",))


def test_narrowing_is_allowed_and_widening_forbidden() -> None:
    scopes = [s for _, s in embed_scopes(SPEC, EmbedResource("dashboard", "d"), ("web-1",))]
    check_narrowing(scopes, ["cpu.usage"], ["web-1"])
    for metrics, sources in [(["mem.used"], []), ([], ["web-2"]), ([], ["db-1"])]:
        with pytest.raises(Forbidden):
            check_narrowing(scopes, metrics, sources)
