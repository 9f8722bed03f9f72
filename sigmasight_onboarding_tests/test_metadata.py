"""Readable metadata: rounded numbers, dates as text, no empty entries, a clickable report link."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

from dagster import MetadataValue

from sigmasight_onboarding.assets.verification import report_url
from sigmasight_onboarding.cli import run_client_job, run_onboarding
from sigmasight_onboarding.config import get_settings
from sigmasight_onboarding.metadata import readable
from sigmasight_onboarding.ephemeral_instance import ephemeral_instance

from .conftest import copy_demo

JOHN = "john.smith@example.com"


def test_readable_rounds_formats_and_drops_empty_entries():
    meta = readable({
        "total_value": 265239.345703125, "var_99_historical": 22088.123456, "risk_free_rate": 0.036912345,
        "as_of": date(2026, 8, 3), "positions": 5, "ready": True, "note": "none", "served": MetadataValue.json({}),
        "empty_md": MetadataValue.md(""), "nothing": None, "nan": float("nan"), "zero": 0, "zero_usd": 0.0,
        "portfolio_pnl_by_shock_bp": MetadataValue.json({"+25bp": -1154.400000001, "-25bp": 1154.3999}), "path": Path("/tmp/x.html"),
    })
    assert meta["total_value"] == MetadataValue.float(265239.35)
    assert meta["var_99_historical"] == MetadataValue.float(22088.12)
    assert meta["risk_free_rate"] == MetadataValue.float(0.0369)
    assert meta["as_of"] == MetadataValue.text("2026-08-03")
    assert meta["positions"] == MetadataValue.int(5) and meta["zero"] == MetadataValue.int(0)
    assert meta["ready"] == MetadataValue.bool(True) and meta["zero_usd"] == MetadataValue.float(0.0)
    assert meta["portfolio_pnl_by_shock_bp"].value == {"+25bp": -1154.4, "-25bp": 1154.4}
    assert meta["path"] == MetadataValue.path("/tmp/x.html")
    assert not {"note", "served", "empty_md", "nothing", "nan"} & set(meta)


def test_report_link_is_a_file_url_or_under_the_reports_server(env, monkeypatch):
    settings = get_settings()
    path = settings.reports_dir / JOHN / "onboarding_report.html"
    assert report_url(path, settings) == path.resolve().as_uri()
    monkeypatch.setenv("SIGMASIGHT_REPORTS_URL", "http://reports.example.com:8016/")
    assert report_url(path, get_settings()) == "http://reports.example.com:8016/john.smith%40example.com/onboarding_report.html"


def _decimals(x: float) -> int:
    text = repr(x)
    return len(text.split(".")[1]) if "." in text and "e" not in text else 0


def test_every_asset_reports_readable_metadata_and_a_clickable_report(env):
    copy_demo(env["imports"], JOHN)
    instance = ephemeral_instance()
    results = [run_onboarding(JOHN, instance), run_client_job("verify_client", JOHN, instance)]
    seen = {}
    for result in results:
        assert result.success
        for event in result.get_asset_materialization_events():
            meta = event.event_specific_data.materialization.metadata
            seen[event.asset_key.to_user_string()] = meta
            for key, value in meta.items():
                inner = value.value
                assert inner not in (None, "", "none", {}, []), (event.asset_key, key)
                if isinstance(inner, float):
                    assert math.isfinite(inner) and _decimals(inner) <= 4, (event.asset_key, key, inner)
    assert {"client_account", "portfolio_positions", "price_history", "onboarding_verification", "onboarding_report"} <= set(seen)
    report = seen["onboarding_report"]
    url = report["report_url"]
    assert isinstance(url, type(MetadataValue.url("x"))) and url.value.startswith("file://")
    assert Path(report["report_path"].value).is_file()
    assert Path(report["report_path"].value).resolve().as_uri() == url.value
    assert report["headline"].value.startswith("Net value $") and "Positions 5" in report["headline"].value
    assert report["summary"].value.startswith("# Onboarding report")
    # visible without a click: the Dagster UI renders markdown entries under 1,000 characters inline
    overview = report["overview"].value
    assert len(overview) < 1000 and "| Net value |" in overview and "Positions by type" in overview
    assert len(seen["onboarding_verification"]["checks"].value) < 1000
    assert "✅ **positions_match_csv**" in seen["onboarding_verification"]["checks"].value


def test_money_figures_also_read_as_dollars_inline():
    meta = readable({"total_value": 2334123.456, "daily_pnl": -1212.5, "risk_free_rate": 0.0369, "positions": 42})
    assert list(meta)[0] == "in_dollars"  # first, so the asset page opens on it
    table = meta["in_dollars"].value
    assert "| total_value | $2,334,123.46 |" in table and "| daily_pnl | −$1,212.50 |" in table
    assert "risk_free_rate" not in table and "positions" not in table
    assert len(table) < 1000  # the UI renders markdown under 1,000 characters inline
    assert meta["total_value"] == MetadataValue.float(2334123.46)  # still a number to plot
    assert "in_dollars" not in readable({"positions": 3, "risk_free_rate": 0.04})
