"""A user's preferences (CONTRACT.md §8: theme, time zone, default time range, home
dashboard) and their organisation's defaults: what a client may send, and how the two
resolve, the user's own choice first. Pure: no I/O (the zone database is read-only data).
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from data.domain.dashboards import MAX_RANGE_MS, time_offset_ms
from data.domain.errors import Invalid
from data.domain.jsontext import storable
from data.domain.validation import Checked, field_problems

THEMES = ("light", "dark", "system")
# What a user without a choice of their own, in an organisation without a default, gets.
DEFAULTS: dict[str, str] = {"theme": "light", "timezone": "UTC", "default_range": "now-6h"}
RESOLVED_KEYS = tuple(DEFAULTS)
RANGE_MESSAGE = "must be a relative start such as now-15m, now-6h or now-7d, at most 400d back"
ZONE_MESSAGE = "must be an IANA time zone such as Europe/Paris or UTC"
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024


@cache
def time_zones() -> tuple[str, ...]:
    """Every IANA zone name this machine knows, sorted (the settings page's dropdown)."""
    return tuple(sorted(available_timezones()))


def _zone(value: str) -> str:
    if value not in time_zones():
        raise ValueError(ZONE_MESSAGE)
    return value


def _range_start(value: str) -> str:
    parsed = time_offset_ms(value) if len(value) <= 40 else None
    if parsed is None or parsed[0] != "relative" or not -MAX_RANGE_MS <= parsed[1] < 0:
        raise ValueError(RANGE_MESSAGE)
    return value


ZoneName = Annotated[str, Checked(_zone, maxLength=64, examples=["Europe/Paris"])]
RangeStart = Annotated[str, Checked(_range_start, pattern=r"^now-\d{1,9}[smhdw]$")]
Theme = Literal["light", "dark", "system"]
_STRICT = ConfigDict(extra="forbid", strict=True)
M = TypeVar("M", bound=BaseModel)


class TenantPreferences(BaseModel):
    """The organisation's defaults; a field left out keeps its value, null clears it."""

    model_config = _STRICT

    theme: Theme | None = None
    timezone: ZoneName | None = None
    default_range: RangeStart | None = None


class UserPreferences(TenantPreferences):
    """A user's own preferences; a field left out keeps its value, null clears it (back to
    the organisation's default; for home_dashboard, back to the tenant's home)."""

    home_dashboard: str | None = Field(default=None, max_length=64)


class PasswordChange(BaseModel):
    """`POST /api/me/password`: the current password, and the new one."""

    model_config = _STRICT

    current: str = Field(max_length=MAX_PASSWORD_CHARS)
    new: str = Field(max_length=MAX_PASSWORD_CHARS)


class EmailChange(BaseModel):
    """`PUT /api/me`: the user's new e-mail address."""

    model_config = _STRICT

    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")


def parse_model(model: type[M], doc: Any, subject: str) -> M:
    """`doc` as `model`, or Invalid with one detail per bad field."""
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise Invalid(field_problems(exc), subject) from None


def changes_of(update: BaseModel) -> dict[str, Any]:
    """The fields the client sent (None: clear), without home_dashboard (stored apart)."""
    return {
        name: getattr(update, name) for name in update.model_fields_set if name != "home_dashboard"
    }


def merged(stored: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Stored preferences with `changes` applied: a None removes the key."""
    out = {**stored, **changes}
    return {key: value for key, value in out.items() if value is not None}


def resolve(user: dict[str, Any], tenant: dict[str, Any]) -> dict[str, str]:
    """Theme, time zone and default range: the user's choice, else the organisation's
    default, else Pulse's. A stored value no longer valid (a zone renamed) is skipped."""
    resolved: dict[str, str] = {}
    for key in RESOLVED_KEYS:
        candidates = (user.get(key), tenant.get(key), DEFAULTS[key])
        resolved[key] = str(next(value for value in candidates if _usable(key, value)))
    return resolved


def _usable(key: str, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    checks = {"theme": lambda v: v in THEMES, "timezone": lambda v: v in time_zones()}
    if key in checks:
        return bool(checks[key](value))
    try:
        _range_start(value)
    except ValueError:
        return False
    return True


def password_problems(new: str, username: str) -> list[dict[str, str]]:
    """What is wrong with a new password, as details of field `new` (none: it will do)."""
    if len(new) < MIN_PASSWORD_CHARS:
        message = f"must be at least {MIN_PASSWORD_CHARS} characters"
    elif not storable(new):
        message = "must not contain NUL characters or unpaired surrogates"
    elif new.strip().lower() == username.lower():
        message = "must not be the username"
    else:
        return []
    return [{"field": "new", "message": message}]
