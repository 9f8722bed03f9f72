"""The price matrix travels from `price_history` to the analytics assets through Dagster (an IO manager),
so the onboarding runs unchanged on the multiprocess executor — every step in its own process."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from dagster import AssetSelection, DagsterEventType, DagsterInstance, Definitions, define_asset_job, execute_job, multiprocess_executor, reconstructable
from sqlalchemy import select

from sigmasight_onboarding.cli import run_onboarding
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.models import PositionGreeks
from sigmasight_onboarding.partitions import CLIENTS_PARTITION
from sigmasight_onboarding.resources.price_matrix_io import PRICE_MATRIX_IO_MANAGER, covers, read_matrix, write_matrix
from sigmasight_onboarding.ephemeral_instance import ephemeral_instance

from .conftest import REPO, copy_demo, onboarding_env

HF = "demo_hedgefundstyle@sigmasight.com"
EXTRACT = REPO / "data" / "market" / "daily_adj_close_extract.parquet"
ANALYTICS = {"position_greeks", "factor_exposures", "interest_rate_betas", "correlations"}


def test_matrix_round_trip_is_bit_exact(tmp_path):
    long = pd.read_parquet(EXTRACT)
    matrix = long.pivot(index="date", columns="symbol", values="adj_close")
    matrix.index = [pd.Timestamp(d).date() for d in matrix.index]
    matrix.iloc[3, 2] = np.nan  # a missing price stays missing
    path = tmp_path / "m.npz"
    write_matrix(path, matrix)
    back = read_matrix(path)
    assert list(back.index) == list(matrix.index) and isinstance(back.index[0], date)
    assert list(back.columns) == [str(c) for c in matrix.columns]
    assert np.array_equal(back.to_numpy().view(np.int64), matrix.to_numpy(dtype=np.float64).view(np.int64))  # bit for bit, NaN too
    assert covers(back, list(matrix.index), list(matrix.columns[:5]))
    assert not covers(back, list(matrix.index)[1:], list(matrix.columns[:5]))  # another window: read the database
    assert not covers(back, list(matrix.index), ["NOT_THERE"])


def multiprocess_onboarding_job():
    """`onboard_client`'s assets on the multiprocess executor (a reconstructable target for execute_job)."""
    from sigmasight_onboarding.definitions import defs
    from sigmasight_onboarding.jobs import CLIENT_GROUPS

    job = define_asset_job("onboard_client_multiprocess", selection=AssetSelection.groups(*CLIENT_GROUPS),
                           executor_def=multiprocess_executor)
    return Definitions(assets=defs.assets, asset_checks=defs.asset_checks, resources=defs.resources,
                       jobs=[job]).resolve_job_def("onboard_client_multiprocess")


def _greeks(url: str) -> list[tuple]:
    with get_engine(url).connect() as conn:
        rows = conn.execute(select(PositionGreeks.position_id, PositionGreeks.delta, PositionGreeks.gamma,
                                   PositionGreeks.theta, PositionGreeks.vega, PositionGreeks.rho)).all()
    return sorted((str(r[0]), *r[1:]) for r in rows)


@pytest.mark.slow
def test_onboarding_on_the_multiprocess_executor(monkeypatch, tmp_path):
    """SQLite only: what is tested is the hand-over between processes, not the database."""
    url = f"sqlite:///{(tmp_path / 'sigmasight.db').as_posix()}"
    get_engine(url)  # migrated
    env = onboarding_env(monkeypatch, tmp_path, url)
    copy_demo(env["imports"], HF)
    in_process = run_onboarding(HF, ephemeral_instance())
    assert in_process.success
    expected = _greeks(env["db_url"])
    assert len(expected) >= 5

    (tmp_path / "dagster_home").mkdir()
    with DagsterInstance.local_temp(tempdir=str(tmp_path / "dagster_home")) as instance:
        instance.add_dynamic_partitions(CLIENTS_PARTITION, [HF])
        with execute_job(reconstructable(multiprocess_onboarding_job), instance=instance,
                         tags={"dagster/partition": HF}, raise_on_error=False) as result:
            assert result.success
            loaded = {(e.step_key, e.event_specific_data.manager_key) for e in result.all_events
                      if e.event_type == DagsterEventType.LOADED_INPUT and e.event_specific_data.input_name == "price_history"}
            pids = {e.pid for e in result.all_events if e.step_key in ANALYTICS | {"price_history"} and e.pid}
    # each analytics step read the matrix through the IO manager, in a process of its own
    assert loaded == {(step, PRICE_MATRIX_IO_MANAGER) for step in ANALYTICS}
    assert len(pids) >= len(ANALYTICS) + 1
    assert _greeks(env["db_url"]) == expected  # same numbers as the in-process run
