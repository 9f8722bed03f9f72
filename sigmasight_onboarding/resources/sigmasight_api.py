"""Live check of the SigmaSight API for an onboarded client (optional: SIGMASIGHT_API_URL).

Logs in with the client's credentials (only while the onboarding run holds the password in
memory; it is never stored), then calls the portfolio endpoints the frontend uses and checks
status, that the payload names the portfolio's positions, and the response time (< 500 ms).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx



@dataclass(frozen=True)
class ApiCheck:
    name: str
    passed: bool
    detail: str


#: The SigmaSight backend's portfolio routes (commit 003cf139): name -> path template. Every
#: one must answer 200 with data for an onboarded client (an analytics route answering
#: `"available": false` is a failure: we computed those figures).
BACKEND_ROUTES = {
    "data_portfolios": "/api/v1/data/portfolios",
    "data_portfolio_complete": "/api/v1/data/portfolio/{pid}/complete",
    "data_portfolio_data_quality": "/api/v1/data/portfolio/{pid}/data-quality",
    "data_positions_details": "/api/v1/data/positions/details?portfolio_id={pid}",
    "data_positions_top": "/api/v1/data/positions/top/{pid}",
    "data_prices_historical": "/api/v1/data/prices/historical/{pid}?lookback_days={lookback}",
    "data_prices_quotes": "/api/v1/data/prices/quotes?symbols={symbols}",
    "data_factors_etf_prices": "/api/v1/data/factors/etf-prices",
    "analytics_overview": "/api/v1/analytics/portfolio/{pid}/overview",
    "analytics_correlation_matrix": "/api/v1/analytics/portfolio/{pid}/correlation-matrix",
    "analytics_diversification_score": "/api/v1/analytics/portfolio/{pid}/diversification-score",
    "analytics_factor_exposures": "/api/v1/analytics/portfolio/{pid}/factor-exposures",
    "analytics_position_factor_exposures": "/api/v1/analytics/portfolio/{pid}/positions/factor-exposures",
    "analytics_stress_test": "/api/v1/analytics/portfolio/{pid}/stress-test",
    "analytics_risk_metrics": "/api/v1/analytics/portfolio/{pid}/risk-metrics",
}


def route_paths(portfolio_id: str, symbols: list[str], lookback_days: int = 150) -> dict[str, str]:
    """The backend routes for one portfolio (`lookback_days` for the price history, calendar
    days back from the server's today: at least the age of the as-of session)."""
    return {name: path.format(pid=portfolio_id, symbols=",".join(symbols[:20]), lookback=lookback_days)
            for name, path in BACKEND_ROUTES.items()}


def login(http: httpx.Client, email: str, password: str) -> tuple[str | None, httpx.Response]:
    """POST /api/v1/auth/login with a JSON body; the bearer token or None."""
    response = http.post("/api/v1/auth/login", json={"email": email, "password": password})
    token = response.json().get("access_token") if response.status_code == 200 and _is_json(response) else None
    return token, response


def response_problems(response: httpx.Response) -> list[str]:
    """Why a route's answer is not "200 with data" (empty list when it is)."""
    if response.status_code != 200:
        return [f"HTTP {response.status_code}"]
    if not _is_json(response):
        return ["not JSON"]
    body = response.json()
    if isinstance(body, dict) and body.get("available") is False:
        return ["available: false (" + str(body.get("metadata") or body.get("reason") or "")[:120] + ")"]
    if body in ({}, [], None):
        return ["empty payload"]
    return []


def check_live_api(
    base_url: str, email: str, password: str | None, portfolio_id: str, symbols: list[str],
    timeout: float = 10.0, transport: httpx.BaseTransport | None = None, lookback_days: int = 150,
) -> list[ApiCheck]:
    """Log in as the client and call every backend portfolio route; one ApiCheck per call.

    A route passes on HTTP 200 with data; its response time is reported (it is not a pass
    criterion: a loaded machine is not a broken backend). `api_portfolio_complete` must name
    every held symbol.
    """
    if not password:
        return [ApiCheck("api_login", False, "no plaintext password in this run (drop used password_hash); live login skipped")]
    checks: list[ApiCheck] = []
    try:
        with httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport) as http:
            started = time.perf_counter()
            token, response = login(http, email, password)
            elapsed = time.perf_counter() - started
            checks.append(ApiCheck("api_login", bool(token), f"HTTP {response.status_code} in {elapsed * 1000:.0f} ms"
                                   + ("" if token else "; no access_token in the response")))
            if not token:
                return checks
            headers = {"Authorization": f"Bearer {token}"}
            for name, path in route_paths(portfolio_id, symbols, lookback_days).items():
                started = time.perf_counter()
                response = http.get(path, headers=headers)
                elapsed = time.perf_counter() - started
                problems = response_problems(response)
                if name == "data_portfolio_complete" and not problems:
                    absent = [s for s in symbols if s not in response.text]
                    if absent:
                        problems.append("positions not in the payload: " + ", ".join(absent[:10]))
                checks.append(ApiCheck(name, not problems, "; ".join(problems) or f"HTTP 200 with data in {elapsed * 1000:.0f} ms"))
    except httpx.HTTPError as exc:
        checks.append(ApiCheck("api_reachable", False, f"{type(exc).__name__}: {exc}"[:300]))
    return checks


def _is_json(response: httpx.Response) -> bool:
    try:
        response.json()
        return True
    except ValueError:
        return False
