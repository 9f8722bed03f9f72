"""Live check of the SigmaSight API for an onboarded client (optional: SIGMASIGHT_API_URL).

Logs in with the client's credentials (only while the onboarding run holds the password in
memory; it is never stored), then calls the portfolio endpoints the frontend uses and checks
status, that the payload names the portfolio's positions, and the response time (< 500 ms).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

MAX_RESPONSE_SECONDS = 0.5


@dataclass(frozen=True)
class ApiCheck:
    name: str
    passed: bool
    detail: str


def check_live_api(
    base_url: str, email: str, password: str | None, portfolio_id: str, symbols: list[str],
    timeout: float = 5.0, transport: httpx.BaseTransport | None = None,
) -> list[ApiCheck]:
    if not password:
        return [ApiCheck("api_login", False, "no plaintext password in this run (drop used password_hash); live login skipped")]
    checks: list[ApiCheck] = []
    try:
        with httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport) as http:
            started = time.perf_counter()
            login = http.post("/api/v1/auth/login", json={"email": email, "password": password})
            elapsed = time.perf_counter() - started
            token = login.json().get("access_token") if login.status_code == 200 and _is_json(login) else None
            checks.append(ApiCheck("api_login", bool(token), f"HTTP {login.status_code} in {elapsed * 1000:.0f} ms"
                                   + ("" if token else "; no access_token in the response")))
            if not token:
                return checks
            headers = {"Authorization": f"Bearer {token}"}
            for name, path in (("api_portfolio_complete", f"/api/v1/data/portfolio/{portfolio_id}/complete"),
                               ("api_analytics_overview", f"/api/v1/analytics/portfolio/{portfolio_id}/overview")):
                started = time.perf_counter()
                response = http.get(path, headers=headers)
                elapsed = time.perf_counter() - started
                problems = []
                if response.status_code != 200:
                    problems.append(f"HTTP {response.status_code}")
                if elapsed >= MAX_RESPONSE_SECONDS:
                    problems.append(f"{elapsed * 1000:.0f} ms ≥ {MAX_RESPONSE_SECONDS * 1000:.0f} ms")
                if name == "api_portfolio_complete" and response.status_code == 200:
                    absent = [s for s in symbols if s not in response.text]
                    if absent:
                        problems.append("positions not in the payload: " + ", ".join(absent[:10]))
                checks.append(ApiCheck(name, not problems, "; ".join(problems) or f"HTTP 200 in {elapsed * 1000:.0f} ms"))
    except httpx.HTTPError as exc:
        checks.append(ApiCheck("api_reachable", False, f"{type(exc).__name__}: {exc}"[:300]))
    return checks


def _is_json(response: httpx.Response) -> bool:
    try:
        response.json()
        return True
    except ValueError:
        return False
