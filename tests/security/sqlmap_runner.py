"""sqlmap against a running Pulse: the sign-in form and the query parameters of /api/data,
/api/export and /api/updates. Shared by tests/security/test_sqlmap.py (a bounded scan in
CI) and bench/sqlmap_scan.py (the full scan, with figures).

Only the fact "sqlmap confirmed an injection" is read from its output: the lines where it
names a parameter injectable or vulnerable, or lists the injection points it identified."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

SQLMAP = shutil.which("sqlmap") or "/usr/bin/sqlmap"
QUERY = "metric=cpu.usage&source=web-1&start=now-1h&end=now&step=1m&agg=avg"
QUERY_PARAMS = "metric,source,start,end,step,agg"
# sqlmap names a parameter of a JSON body "(custom) POST parameter 'JSON username'"
PARAMETER_RE = re.compile(r"(?:GET|POST) parameter '(?:JSON )?([^']+)'")
INJECTABLE_RE = re.compile(
    r"parameter '(?:JSON )?([^']+)' "
    r"(?:is '[^']*' injectable|is vulnerable|appears to be '[^']*' injectable)"
)
# At level 5 / risk 3 a parameter "appears to be ... injectable" (OR boolean-based: a refused
# name and a refused name differ in the echoed text), and sqlmap's own false-positive check
# then dismisses it: its verdict is the final "does not seem to be injectable".
DISMISSED_RE = re.compile(r"parameter '(?:JSON )?([^']+)' does not seem to be injectable")
IDENTIFIED = "sqlmap identified the following injection point"


@dataclass(frozen=True)
class Target:
    """One sqlmap run: a URL, maybe a POST body, the parameters to test, extra headers."""

    name: str
    url: str
    params: str
    data: str | None = None
    headers: tuple[str, ...] = ()


@dataclass
class ScanResult:
    """What one run of sqlmap tested, sent and found."""

    target: str
    parameters: set[str] = field(default_factory=set)
    injectable: set[str] = field(default_factory=set)
    false_positives: set[str] = field(default_factory=set)  # claimed, then dismissed by sqlmap
    requests: int = 0
    finished: bool = False  # sqlmap reached its end (not cut off by the time bound)
    output: str = ""


def targets(base_url: str, read_key: str, username: str, password: str) -> list[Target]:
    """The sign-in form and JSON body, with a real user's credentials (a good answer differs
    from a bad one, which boolean-based detection compares), and the three query endpoints
    authenticated with a read key."""
    bearer = (f"Authorization: Bearer {read_key}",)
    form = urlencode({"username": username, "password": password})
    body = json.dumps({"username": username, "password": password})
    return [
        Target("login form", f"{base_url}/login", "username,password", data=form),
        Target("login json", f"{base_url}/login", "username,password", data=body),
        Target("/api/data", f"{base_url}/api/data?{QUERY}", QUERY_PARAMS, headers=bearer),
        Target(
            "/api/export",
            f"{base_url}/api/export?{QUERY}&format=csv&tz=UTC",
            QUERY_PARAMS + ",format,tz",
            headers=bearer,
        ),
        # a cursor older than the resume window answers at once (a current one long-polls)
        Target(
            "/api/updates",
            f"{base_url}/api/updates?metric=cpu.usage&source=web-1&cursor=1-0",
            "metric,source,cursor",
            headers=bearer,
        ),
    ]


def command(target: Target, out_dir: Path, level: int, risk: int, technique: str) -> list[str]:
    """The sqlmap command line: batch mode, bounded, its session kept out of $HOME."""
    args = [
        SQLMAP,
        "-u",
        target.url,
        "-p",
        target.params,
        "--batch",
        "--flush-session",
        f"--level={level}",
        f"--risk={risk}",
        f"--technique={technique}",
        "--dbms=PostgreSQL",
        "--timeout=10",
        "--retries=1",
        "--threads=2",
        "--time-sec=2",
        "--disable-coloring",
        "--ignore-code=401",
        "--output-dir",
        str(out_dir),
        "-t",
        str(out_dir / "traffic.txt"),
    ]
    if target.data is not None:
        args += ["--data", target.data, "--method", "POST"]
    for header in target.headers:
        args += ["-H", header]
    return args


def scan(
    target: Target, level: int = 2, risk: int = 1, technique: str = "BEUS", timeout_s: float = 120
) -> ScanResult:
    """Run sqlmap on one target within `timeout_s`; what it tested, sent and confirmed."""
    result = ScanResult(target.name)
    with tempfile.TemporaryDirectory(prefix="pulse-sqlmap-") as tmp:
        out_dir = Path(tmp)
        try:
            run = subprocess.run(
                command(target, out_dir, level, risk, technique),
                capture_output=True,
                text=True,
                timeout=timeout_s,
                stdin=subprocess.DEVNULL,
            )
            result.output = run.stdout + run.stderr
            result.finished = True
        except subprocess.TimeoutExpired as exc:
            result.output = _text(exc.stdout) + _text(exc.stderr)
        traffic = out_dir / "traffic.txt"
        if traffic.exists():
            result.requests = traffic.read_text(errors="replace").count("HTTP request [#")
    result.parameters = set(PARAMETER_RE.findall(result.output))
    claimed = set(INJECTABLE_RE.findall(result.output))
    dismissed = set(DISMISSED_RE.findall(result.output))
    result.injectable = claimed - dismissed
    result.false_positives = claimed & dismissed
    if IDENTIFIED in result.output and not result.injectable:
        result.injectable = {"(unnamed)"}
    return result


def _text(raw: bytes | str | None) -> str:
    if raw is None:
        return ""
    return raw.decode(errors="replace") if isinstance(raw, bytes) else raw
