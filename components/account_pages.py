"""The account pages anyone may open: sign-up, accepting an invitation, asking for a
password reset and choosing the new password. Plain HTML like the sign-in page, so they
work before (and without) any script; each field shows its own error."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Pulse</title>
<link rel="stylesheet" href="/assets/0-bootstrap.min.css">
<link rel="stylesheet" href="/assets/pulse.css">
<link rel="icon" href="/_favicon.ico">
</head>
<body class="pulse-login-body">
<main class="pulse-login card shadow-sm" id="{page_id}">
  <div class="card-body p-4">
    <h1 class="h4 mb-1"><span class="pulse-logo">●</span> Pulse</h1>
    <p class="text-body-secondary mb-4">{intro}</p>
    {content}
  </div>
</main>
</body>
</html>
"""


@dataclass(frozen=True, slots=True)
class Field:
    """One input of a form."""

    name: str
    label: str
    kind: str = "text"
    autocomplete: str = "off"


SIGNUP_FIELDS = (
    Field("organisation", "Organisation", autocomplete="organization"),
    Field("username", "Username", autocomplete="username"),
    Field("email", "E-mail", "email", "email"),
    Field("password", "Password (at least 8 characters)", "password", "new-password"),
)
ACCEPT_FIELDS = (
    Field("username", "Username", autocomplete="username"),
    Field("password", "Password (at least 8 characters)", "password", "new-password"),
)
FORGOT_FIELDS = (Field("email", "E-mail", "email", "email"),)
RESET_FIELDS = (
    Field("password", "New password (at least 8 characters)", "password", "new-password"),
)


def page(page_id: str, title: str, intro: str, content: str) -> str:
    """A whole public page around `content` (already HTML)."""
    return _PAGE.format(
        title=escape(title), page_id=escape(page_id), intro=escape(intro), content=content
    )


def _input(field: Field, value: str, error: str | None) -> str:
    invalid = " is-invalid" if error else ""
    # a password is never sent back into the page
    shown = "" if field.kind == "password" else escape(value)
    feedback = (
        f'<div class="invalid-feedback" id="{field.name}-error">{escape(error)}</div>'
        if error
        else ""
    )
    return (
        f'<div class="mb-3"><label class="form-label" for="{field.name}">'
        f"{escape(field.label)}</label>"
        f'<input class="form-control{invalid}" id="{field.name}" name="{field.name}" '
        f'type="{field.kind}" autocomplete="{field.autocomplete}" required value="{shown}">'
        f"{feedback}</div>"
    )


def form(
    form_id: str,
    action: str,
    fields: Sequence[Field],
    submit: str,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> str:
    """A form posting to `action`, with each field's error under it; an error of no field
    (key "") shows above the form."""
    values, errors = values or {}, errors or {}
    general = errors.get("", "")
    alert = (
        f'<div class="alert alert-danger" role="alert" id="{form_id}-error">{escape(general)}</div>'
        if general
        else ""
    )
    inputs = "".join(_input(f, values.get(f.name, ""), errors.get(f.name)) for f in fields)
    return (
        f'{alert}<form method="post" action="{escape(action)}" id="{form_id}" novalidate>'
        f"{inputs}"
        f'<button class="btn btn-primary w-100" id="{form_id}-submit" type="submit">'
        f"{escape(submit)}</button></form>"
    )


def notice(
    message_id: str, message: str, link_to: str = "/login", link_text: str = "Sign in"
) -> str:
    """A message and one link onwards (a link sent, a password changed, a dead link)."""
    return (
        f'<div class="alert alert-info" role="status" id="{message_id}">{escape(message)}</div>'
        f'<a class="btn btn-outline-primary w-100" href="{escape(link_to)}">{escape(link_text)}</a>'
    )


def back_to_login() -> str:
    """The way back to the sign-in page."""
    return '<p class="mt-3 mb-0 small"><a href="/login">Back to sign in</a></p>'
