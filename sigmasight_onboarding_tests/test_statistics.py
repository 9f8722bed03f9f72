"""Planner statistics after a bulk load (db/statistics.py): which tables qualify, and that an onboarding
really leaves its freshly loaded tables analysed on PostgreSQL."""

from __future__ import annotations

import pytest
from dagster import DagsterInstance
from sqlalchemy import text

from sigmasight_onboarding.cli import run_onboarding
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.statistics import tables_to_analyse

from .conftest import copy_demo

JOHN = "john.smith@example.com"


def test_only_tables_that_grew_by_more_than_a_tenth_are_analysed():
    estimates = {"never": -1.0, "young": 1_000.0, "large": 100_000.0}
    written = {"never": 1, "young": 151, "large": 10_050, "unknown": 3, "untouched": 0}
    # young: 151 > 0.1 × 1000 + 50; large: 10,050 is not > 0.1 × 100,000 + 50; unknown: no estimate at all
    assert tables_to_analyse(estimates, written) == ["never", "unknown", "young"]
    assert tables_to_analyse({"young": 1_000.0}, {"young": 150}) == []


def test_an_onboarding_leaves_its_bulk_loaded_tables_analysed(env):
    if env["db_url"].startswith("sqlite"):
        pytest.skip("planner statistics: PostgreSQL only")
    copy_demo(env["imports"], JOHN)
    assert run_onboarding(JOHN, DagsterInstance.ephemeral()).success
    with get_engine(env["db_url"]).connect() as conn:
        analysed = dict(conn.execute(text(
            "SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname IN "
            "('positions', 'onb_position_factor_exposures', 'onb_position_greeks', 'onb_position_interest_rate_betas')")).all())
        tuples = dict(conn.execute(text(
            "SELECT relname, reltuples FROM pg_class WHERE relname IN ('positions', 'onb_position_factor_exposures')")).all())
    # written through client_transaction (positions by write_client, the analytics by their assets), each young
    assert analysed == {"positions": True, "onb_position_factor_exposures": True, "onb_position_greeks": True,
                        "onb_position_interest_rate_betas": True}
    assert tuples["positions"] == 5 and tuples["onb_position_factor_exposures"] > 0
