"""sqlmap against a real Pulse: the sign-in form (form and JSON body) and the query
parameters of /api/data, /api/export and /api/updates, authenticated with a read key.
Prints, per target, the parameters tested, the HTTP requests sent, the injectable
parameters found and the time taken; exits 1 if any parameter is injectable.

The same targets and parsing as tests/security/test_sqlmap.py (tests/security/
sqlmap_runner.py), scanned harder: by default level 3, risk 2, every technique (time-based
blind included). Pulse runs as `python app.py` (bench/harness.py) on a fresh database with
the sign-in throttle raised out of the way (throttled, every guess would be a 429 and
sqlmap would compare nothing). Needs `sqlmap` (apt-get install sqlmap). Usage:

    .venv/bin/python bench/sqlmap_scan.py [--level 3] [--risk 2] [--technique BEUSTQ]
"""

from __future__ import annotations

import argparse
import sys
import time

import requests
from harness import ROOT, running_pulse

sys.path.insert(0, str(ROOT))
from tests.security.sqlmap_runner import ScanResult, scan, targets  # noqa: E402

PASSWORD = "scan-password-1"
UNTHROTTLED = {"LOGIN_MAX_FAILURES": "1000000000", "LOGIN_MAX_FAILURES_PER_IP": "1000000000"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--level", type=int, default=3)
    parser.add_argument("--risk", type=int, default=2)
    parser.add_argument("--technique", default="BEUSTQ")
    parser.add_argument("--timeout-s", type=float, default=1800, help="per target")
    args = parser.parse_args()
    results: list[tuple[ScanResult, float]] = []
    with running_pulse(extra_env=UNTHROTTLED) as pulse:
        pulse.admin(
            "create-user",
            "--tenant",
            "scan",
            "--username",
            "scanner",
            "--email",
            "scanner@example.com",
            "--role",
            "analyst",
            stdin=PASSWORD + "\n",
        )
        read_key = pulse.admin(
            "create-api-key", "--tenant", "scan", "--name", "r", "--scope", "read"
        )
        _ingest_some_points(
            pulse.url,
            pulse.admin("create-api-key", "--tenant", "scan", "--name", "i", "--scope", "ingest"),
        )
        for target in targets(pulse.url, read_key, "scanner", PASSWORD):
            started = time.monotonic()
            result = scan(target, args.level, args.risk, args.technique, args.timeout_s)
            results.append((result, time.monotonic() - started))
            _print_row(result, results[-1][1])
    return _print_totals(args, results)


def _ingest_some_points(url: str, key: str) -> None:
    now = time.time()
    points = [
        {
            "source": "web-1",
            "metric_type": "cpu.usage",
            "timestamp": now - 60 * i,
            "value": float(i),
        }
        for i in range(60)
    ]
    resp = requests.post(
        f"{url}/api/ingest", json=points, timeout=10, headers={"Authorization": f"Bearer {key}"}
    )
    resp.raise_for_status()
    time.sleep(2)  # the worker stores them


def _print_row(result: ScanResult, seconds: float) -> None:
    state = "finished" if result.finished else "CUT OFF"
    print(
        f"{result.target:<14} {len(result.parameters):>3} parameters {result.requests:>7}"
        f" requests {len(result.injectable):>3} injectable ({len(result.false_positives)}"
        f" dismissed by sqlmap as false positives) {seconds:>7.1f} s  {state}"
        f"  [{', '.join(sorted(result.parameters))}]",
        flush=True,
    )


def _print_totals(args: argparse.Namespace, results: list[tuple[ScanResult, float]]) -> int:
    params = sum(len(r.parameters) for r, _ in results)
    sent = sum(r.requests for r, _ in results)
    injectable = sorted(f"{r.target}:{p}" for r, _ in results for p in r.injectable)
    seconds = sum(s for _, s in results)
    print(
        f"sqlmap level {args.level} risk {args.risk} technique {args.technique}:"
        f" {params} parameters tested, {sent} requests, {len(injectable)} injectable"
        f" {injectable}, {seconds:.0f} s"
    )
    return 1 if injectable or not all(r.finished for r, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
