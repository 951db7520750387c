"""Credentials inside URLs (`https://user:pass@host/…`, `?token=…`): masked when the API
shows a URL, and put back when the mask is sent back for the same host.

A mask is only ever restored onto the host it was taken from: a URL pointing somewhere
else must carry its own credentials, or a changed host would receive the stored secret.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
SECRET_PARAMS = frozenset(
    {
        "token",
        "api_key",
        "apikey",
        "access_token",
        "password",
        "secret",
        "key",
        "auth",
        "sig",
        "signature",
        "client_secret",
        "private_token",
    }
)


class MaskedCredential(ValueError):
    """A URL carries the mask where the stored URL has no credential to restore."""


def _is_secret_param(name: str) -> bool:
    return name.lower().replace("-", "_") in SECRET_PARAMS


def mask_url(url: str) -> str:
    """The URL with its userinfo password and secret query values replaced by ***."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a malformed port)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:{MASK}@{netloc.rsplit('@', 1)[1]}"
    pairs = _pairs(parts.query)
    query = parts.query
    if any(_is_secret_param(k) for k, _ in pairs):
        query = _encode([(k, MASK if _is_secret_param(k) else v) for k, v in pairs], query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def unmask_url(sent: str, stored: str | None) -> str:
    """`sent` with each *** taken from `stored`, when both name the same scheme, host and
    port (and user, for a password); MaskedCredential when a mask cannot be restored."""
    if MASK not in sent:
        return sent
    if sent == (mask_url(stored) if stored else None):
        return stored or sent
    try:
        new, old = urlsplit(sent), urlsplit(stored or "")
        same_place = (new.scheme, new.hostname, new.port) == (old.scheme, old.hostname, old.port)
    except ValueError:
        same_place = False
    if not same_place:
        raise MaskedCredential("carries *** for another host: send the credential itself")
    netloc = new.netloc
    if new.password == MASK:
        if old.password is None or new.username != old.username:
            raise MaskedCredential("carries *** for another user: send the password itself")
        # urlsplit leaves userinfo percent-encoded, so the stored text goes back as it was.
        host_part = new.netloc.rsplit("@", 1)[1]
        netloc = f"{new.username or ''}:{old.password}@{host_part}"
    stored_params = dict(_pairs(old.query))
    query = []
    for key, value in _pairs(new.query):
        if value == MASK:
            if key not in stored_params:
                raise MaskedCredential(f"carries *** for {key!r}: send the value itself")
            value = stored_params[key]
        query.append((key, value))
    return urlunsplit(new._replace(netloc=netloc, query=_encode(query, new.query)))


def _pairs(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def _encode(pairs: list[tuple[str, str]], original: str) -> str:
    """The query re-encoded, or the original text when nothing in it is a pair."""
    return urlencode(pairs, safe="*") if pairs else original
