"""The sign-in page: plain HTML so that it works before any script has loaded."""

from __future__ import annotations

from html import escape

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Pulse</title>
<link rel="stylesheet" href="/assets/0-bootstrap.min.css">
<link rel="stylesheet" href="/assets/pulse.css">
<link rel="icon" href="/_favicon.ico">
</head>
<body class="pulse-login-body">
<main class="pulse-login card shadow-sm">
  <div class="card-body p-4">
    <h1 class="h4 mb-1"><span class="pulse-logo">●</span> Pulse</h1>
    <p class="text-body-secondary mb-4">Live analytics. Sign in to see your dashboards.</p>
    {error}
    <form method="post" action="/login" id="login-form">
      <input type="hidden" name="next" value="{next_url}">
      <div class="mb-3">
        <label class="form-label" for="username">Username</label>
        <input class="form-control" id="username" name="username" autocomplete="username"
               required autofocus value="{username}">
      </div>
      <div class="mb-3">
        <label class="form-label" for="password">Password</label>
        <input class="form-control" id="password" name="password" type="password"
               autocomplete="current-password" required>
      </div>
      <button class="btn btn-primary w-100" id="login-submit" type="submit">Sign in</button>
    </form>
    <p class="mt-3 mb-0 small d-flex justify-content-between">
      <a href="/forgot" id="login-forgot">Forgot password?</a>{signup}
    </p>
  </div>
</main>
</body>
</html>
"""


def login_page(
    next_url: str = "/", error: str | None = None, username: str = "", signup: bool = False
) -> str:
    """The sign-in page, with an error message when the last attempt failed, and a link to
    sign up when SIGNUP_ENABLED."""
    alert = (
        f'<div class="alert alert-danger" role="alert" id="login-error">{escape(error)}</div>'
        if error
        else ""
    )
    link = '<a href="/signup" id="login-signup">Create an organisation</a>' if signup else ""
    return _PAGE.format(
        error=alert, next_url=escape(next_url), username=escape(username), signup=link
    )
