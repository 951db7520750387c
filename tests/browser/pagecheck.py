"""What a page did in the browser: console errors, failed requests, and when it has settled.

Chromium's performance log (enabled in tests/conftest.py) carries the DevTools Network
events, so a request's real status code and any network failure are seen, whether it was
Dash's own `/_dash-*` traffic, an asset or an `/api` call.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

# Positive signs that Dash is still working: a loading marker in the DOM, or callbacks the
# renderer has requested and not yet stored (its redux state; absent on plain HTML pages).
DASH_BUSY = """
const marker = document.querySelector(
  '[data-dash-is-loading="true"], ._dash-loading, ._dash-loading-callback');
const state = window.store && window.store.getState ? window.store.getState() : null;
let pending = 0;
if (state && state.callbacks) {
  for (const [stage, list] of Object.entries(state.callbacks)) {
    if (stage !== 'stored' && stage !== 'completed' && Array.isArray(list)) {
      pending += list.length;
    }
  }
}
return {marker: Boolean(marker), pending: pending, ready: document.readyState};
"""
QUIET_S = 0.6  # nothing loading, pending or in flight for this long counts as settled
POLL_S = 0.1


@dataclass
class Request:
    """One network request as DevTools reported it."""

    url: str
    status: int | None = None
    error: str | None = None
    done: bool = False


@dataclass
class PageWatch:
    """Reads the browser and performance logs of one Chromium as a page loads."""

    driver: Any
    requests: dict[str, Request] = field(default_factory=dict)
    console: list[dict[str, Any]] = field(default_factory=list)

    def reset(self) -> None:
        """Leave the current page and forget everything seen so far: a request the old page
        still had in flight would otherwise never be seen to finish."""
        self.driver.get("about:blank")
        self.drain()
        self.requests.clear()
        self.console.clear()

    def drain(self) -> int:
        """Read the pending log entries; how many network events they held."""
        self.console.extend(self.driver.get_log("browser"))
        events = 0
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            events += self._network_event(message.get("method", ""), message.get("params", {}))
        return events

    def _network_event(self, method: str, params: dict[str, Any]) -> int:
        request_id = params.get("requestId", "")
        if method == "Network.requestWillBeSent":
            self.requests[request_id] = Request(params["request"]["url"])
        elif method == "Network.responseReceived" and request_id in self.requests:
            self.requests[request_id].status = int(params["response"]["status"])
        elif method == "Network.loadingFinished" and request_id in self.requests:
            self.requests[request_id].done = True
        elif method == "Network.loadingFailed" and request_id in self.requests:
            request = self.requests[request_id]
            request.done = True
            # a request the next navigation aborted did not fail; we never navigate mid-load
            request.error = None if params.get("canceled") else params.get("errorText", "failed")
        else:
            return 0
        return 1

    def in_flight(self) -> list[str]:
        """URLs of requests sent and not yet finished."""
        return [r.url for r in self.requests.values() if not r.done]

    def settle(self, timeout: float = 20.0) -> None:
        """Wait until nothing has loaded, run or been requested for QUIET_S in a row."""
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            events = self.drain()
            busy = self.driver.execute_script(DASH_BUSY)
            if (
                events
                or self.in_flight()
                or busy["marker"]
                or busy["pending"]
                or busy["ready"] != "complete"
            ):
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= QUIET_S:
                return
            time.sleep(POLL_S)
        raise TimeoutError(f"page never settled; in flight: {self.in_flight()}, dash: {busy}")

    def problems(self) -> list[str]:
        """Every SEVERE console entry and every failed request seen since the last reset."""
        found = [
            f"console: {e['message'].splitlines()[0]}"  # not the minified stack
            for e in self.console
            if e["level"] == "SEVERE"
        ]
        for request in self.requests.values():
            if request.error:
                found.append(f"request failed: {request.url}: {request.error}")
            elif request.status is not None and request.status >= 400:
                found.append(f"HTTP {request.status}: {request.url}")
        return found
