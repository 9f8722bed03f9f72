"""`sigmasight` command line: the same Dagster definitions and instance as the UI.

Exit codes: 0 success; 1 bad input (every problem printed, nothing written); 2 usage error;
3 the pipeline ran but a step or a check failed; 4 unknown client.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_BAD_INPUT, EXIT_USAGE, EXIT_PIPELINE, EXIT_UNKNOWN = 0, 1, 2, 3, 4


def get_instance():
    """The configured Dagster instance ($DAGSTER_HOME), or an ephemeral one when unset."""
    from dagster import DagsterInstance

    if os.environ.get("DAGSTER_HOME"):
        instance = DagsterInstance.get()
        from sigmasight_onboarding.instance_config import run_queue_warning

        warning = run_queue_warning(instance)
        if warning:
            print(warning, file=sys.stderr)
        return instance
    return DagsterInstance.ephemeral()


def _print_problems(err) -> None:
    print(f"REJECTED: {len(err.problems)} problem(s); nothing was written.", file=sys.stderr)
    for problem in err.problems:
        print(f"  - {problem}", file=sys.stderr)


def run_onboarding(key: str, instance, *, tags: dict | None = None, log_level: str = "WARNING"):
    """Materialise every client-partitioned onboarding asset for `key`; returns the run result."""
    from sigmasight_onboarding.definitions import defs
    from sigmasight_onboarding.partitions import CLIENTS_PARTITION

    if not instance.has_dynamic_partition(CLIENTS_PARTITION, key):
        instance.add_dynamic_partitions(CLIENTS_PARTITION, [key])
    job = defs.resolve_job_def("onboard_client")
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    return job.execute_in_process(
        instance=instance, partition_key=key, raise_on_error=False, tags=tags or {}, run_config=run_config
    )


def run_timeseries(key: str, days, instance, *, tags: dict | None = None, log_level: str = "ERROR", progress=None):
    """One in-process run of `backfill_timeseries` per (client, session); returns [(day, result)]."""
    from sigmasight_onboarding.definitions import defs
    from sigmasight_onboarding.partitions import CLIENTS_PARTITION, client_date_key

    if not instance.has_dynamic_partition(CLIENTS_PARTITION, key):
        instance.add_dynamic_partitions(CLIENTS_PARTITION, [key])
    job = defs.resolve_job_def("backfill_timeseries")
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    results = []
    for i, day in enumerate(days, 1):
        result = job.execute_in_process(
            instance=instance, partition_key=client_date_key(key, day), raise_on_error=False,
            tags=tags or {}, run_config=run_config,
        )
        results.append((day, result))
        if progress:
            progress(i, len(days), day, result)
    return results


def cmd_onboard(args) -> int:
    from sigmasight_onboarding.config import get_settings
    from sigmasight_onboarding.db.engine import get_engine
    from sigmasight_onboarding.db.onboarding_writer import audit
    from sigmasight_onboarding.drops.problems import DropValidationError
    from sigmasight_onboarding.drops.reader import read_drop

    settings = get_settings()
    folder = Path(args.drop_folder)
    if not folder.is_dir():
        print(f"error: {folder} is not a folder", file=sys.stderr)
        return EXIT_USAGE
    imports = settings.imports_dir.resolve()
    if folder.resolve().parent != imports and not folder.is_symlink():
        print(
            f"error: drop folders must sit directly inside the imports folder {imports} "
            "(SIGMASIGHT_IMPORTS_DIR); move the folder there or point SIGMASIGHT_IMPORTS_DIR at its parent",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        from sigmasight_onboarding.resources.market_data import build_provider_chain

        build_provider_chain(settings)  # e.g. synthetic prices in production: refuse before anything is written
    except ValueError as exc:
        print(f"error: {exc}; nothing was written", file=sys.stderr)
        return EXIT_USAGE
    try:
        drop = read_drop(folder, settings)
    except DropValidationError as err:
        _print_problems(err)
        audit(get_engine(settings.database_url), folder.name.lower(), "onboard", "rejected",
              {"problems": [p.as_dict() for p in err.problems[:50]], "problem_count": len(err.problems)}, "cli")
        return EXIT_BAD_INPUT
    for warning in drop.warnings:
        print(f"warning: {warning}")
    key = drop.client.key
    instance = get_instance()
    result = run_onboarding(
        key, instance, tags={"sigmasight/trigger": "cli", "sigmasight/drop_hash": drop.content_hash},
        log_level=args.log_level,
    )
    code = _report_run(result, key)
    if code != EXIT_OK or args.sessions <= 0:
        return code
    from sigmasight_onboarding.calendar import last_sessions
    from sigmasight_onboarding.resources.market_data_resource import resolve_as_of

    from sigmasight_onboarding.progress import session_progress

    days = last_sessions(resolve_as_of(settings), args.sessions)
    with session_progress(len(days), "time series") as tick:  # a bar on a terminal, silent otherwise
        results = run_timeseries(key, days, instance, tags={"sigmasight/trigger": "cli"}, log_level=args.log_level,
                                 progress=tick)
    code = _report_timeseries(results)
    if code != EXIT_OK:
        return code
    verification = run_client_job("verify_client", key, instance, log_level=args.log_level,
                                  tags={"sigmasight/sessions": str(args.sessions)})  # verify against N, not 30
    return _report_verification(verification)


def run_client_job(job_name: str, key: str, instance, *, log_level: str = "ERROR", tags: dict | None = None):
    """One in-process run of a client-partitioned job (verify_client, daily_refresh)."""
    from sigmasight_onboarding.definitions import defs

    job = defs.resolve_job_def(job_name)
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    return job.execute_in_process(instance=instance, partition_key=key, raise_on_error=False, tags=tags or {},
                                  run_config=run_config)


def _report_verification(result) -> int:
    from sigmasight_onboarding.check_summary import skip_reasons, summarize_checks

    summary = summarize_checks(result)
    # live_api is advisory (WARN): a failing or skipped live check does not block readiness
    blocking = [n for n in summary.failed + summary.warned if not n.endswith(":live_api")]
    ready = result.success and not blocking
    print(f"verification:  {'READY' if ready else 'NOT READY'} (checks {summary.line()})")
    details = {c.asset_check_key.name: c.description or "" for c in result.get_asset_check_evaluations()}
    reasons = skip_reasons(result)
    for label, names in (("FAIL", summary.failed), ("WARN", summary.warned), ("SKIP", summary.skipped)):
        for name in names:
            check = name.split(":", 1)[1]
            print(f"  [{label}] {check}: {reasons.get(check, '') if label == 'SKIP' else details.get(check, '')}")
    for event in result.get_asset_materialization_events():
        meta = event.event_specific_data.materialization.metadata
        if "report_path" in meta:
            print(f"report:        {meta['report_path'].value}")
    return EXIT_OK if ready else EXIT_PIPELINE


def failure_reasons(result) -> list[str]:
    """Human-readable reasons of a failed run: the Failure description or the root exception."""
    reasons = []
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        data = event.step_failure_data
        if data.user_failure_data and data.user_failure_data.description:
            reasons.append(data.user_failure_data.description.strip())
            continue
        error = data.error
        while error is not None and error.cause is not None:
            error = error.cause
        if error is not None:
            reasons.append(error.message.strip().splitlines()[0])
    return reasons


def _report_timeseries(results) -> int:
    from sigmasight_onboarding.check_summary import CheckSummary, summarize_checks

    summaries = [(day, r, summarize_checks(r)) for day, r in results]
    failed = [(day, r, cs) for day, r, cs in summaries if not r.success or cs.failed]
    total = CheckSummary()
    for _day, _r, cs in summaries:
        total = total.merge(cs)
    first, last = results[0][0], results[-1][0]
    print(f"time series:   {len(results) - len(failed)}/{len(results)} sessions {first}..{last} "
          f"(snapshots, risk metrics, stress tests); checks {total.line()}")
    for day, r, cs in failed[:20]:
        reasons = failure_reasons(r)
        print(f"  FAILED {day}: {'; '.join(reasons + [n.split(':', 1)[1] for n in cs.failed])}", file=sys.stderr)
    return EXIT_OK if not failed else EXIT_PIPELINE


def cmd_backfill(args) -> int:
    """Snapshots, risk and stress for a date range, one client or all, one run per session."""
    from datetime import date

    from sigmasight_onboarding.calendar import sessions_between
    from sigmasight_onboarding.config import get_settings
    from sigmasight_onboarding.db.engine import get_engine
    from sigmasight_onboarding.db.models import User
    from sigmasight_onboarding.resources.market_data_resource import resolve_as_of

    settings = get_settings()
    try:
        start, end = date.fromisoformat(args.start), date.fromisoformat(args.end or args.start)
    except ValueError as exc:
        print(f"error: dates must be YYYY-MM-DD: {exc}", file=sys.stderr)
        return EXIT_USAGE
    data_end = resolve_as_of(settings)
    if end > data_end:
        print(f"note: market data ends {data_end}; dates after it are skipped")
        end = data_end
    days = sessions_between(start, end)
    if not days:
        print(f"error: no NYSE session between {start} and {end}", file=sys.stderr)
        return EXIT_USAGE
    from sqlalchemy import select

    with get_engine(settings.database_url).connect() as conn:
        known = set(conn.execute(select(User.email)).scalars())
    clients = sorted(known) if args.email == "all" else [args.email.strip().lower()]
    unknown = [c for c in clients if c not in known]
    if unknown:
        print(f"error: unknown client(s): {', '.join(unknown)}; onboard first", file=sys.stderr)
        return EXIT_UNKNOWN
    instance = get_instance()
    code = EXIT_OK
    from sigmasight_onboarding.progress import session_progress

    for client in clients:
        print(f"{client}: {len(days)} session(s) {days[0]}..{days[-1]}", flush=True)
        with session_progress(len(days), client, force=False if args.verbose else None) as tick:
            results = run_timeseries(
                client, days, instance, tags={"sigmasight/trigger": "cli-backfill"}, log_level=args.log_level,
                progress=(lambda i, n, day, r: print(f"  [{i}/{n}] {day} {'ok' if r.success else 'FAILED'}", flush=True))
                if args.verbose else tick,
            )
        code = max(code, _report_timeseries(results))
    return code


def _report_run(result, key: str) -> int:
    materialized = result.get_asset_materialization_events()
    meta: dict = {}
    for event in materialized:
        mat = event.event_specific_data.materialization
        meta.update({k: v.value for k, v in mat.metadata.items()})
    print(f"client:        {key}")
    print(f"run id:        {result.run_id}")
    if "user_id" in meta:
        print(f"user id:       {meta['user_id']}")
        print(f"portfolio id:  {meta['portfolio_id']}")
    if "positions" in meta:
        print(f"positions:     {meta['positions']} (inserted {meta.get('inserted')}, updated {meta.get('updated')}, "
              f"soft-deleted {meta.get('soft_deleted')}, unchanged {meta.get('unchanged')})")
    if "provider_calls" in meta:
        print(f"prices:        as of {meta['as_of']}: {meta['rows_added']} rows added by {meta['provider_calls']} "
              f"provider call(s) ({meta['providers']}); {meta['symbols_failed']} symbol(s) failed")
    print(f"assets:        {len({e.asset_key for e in materialized})} materialised")
    from sigmasight_onboarding.check_summary import summarize_checks

    summary = summarize_checks(result)
    print(f"checks:        {summary.line()}")
    for label, names in (("PASS", summary.passed), ("WARN", summary.warned), ("FAIL", summary.failed), ("SKIP", summary.skipped)):
        for name in names:
            print(f"  [{label}] {name}")
    if not result.success:
        for reason in failure_reasons(result):
            print(f"FAILED: {reason}", file=sys.stderr)
        return EXIT_PIPELINE
    return EXIT_OK if not summary.failed else EXIT_PIPELINE


def cmd_status(args) -> int:
    from sqlalchemy import func, select

    from sigmasight_onboarding.config import get_settings
    from sigmasight_onboarding.db.engine import get_engine
    from sigmasight_onboarding.db.models import OnboardingAuditLog, Portfolio, Position, PositionTag, Tag, User

    settings = get_settings()
    engine = get_engine(settings.database_url)
    email = args.email.strip().lower()
    with engine.connect() as conn:
        user = conn.execute(select(User).where(User.email == email)).mappings().first()
        audit_rows = conn.execute(
            select(OnboardingAuditLog).where(OnboardingAuditLog.client_email == email).order_by(OnboardingAuditLog.id.desc()).limit(5)
        ).mappings().all()
        if user is None:
            print(f"client {email}: no user in {engine.url.render_as_string(hide_password=True)}")
            for row in audit_rows:
                print(f"  audit {row['at']:%Y-%m-%d %H:%M:%S} {row['action']}: {row['outcome']}")
            return EXIT_UNKNOWN
        portfolio = conn.execute(select(Portfolio).where(Portfolio.user_id == user["id"])).mappings().first()
        print(f"client:        {email} ({user['full_name']})")
        print(f"user id:       {user['id']}")
        if portfolio is not None:
            active = conn.execute(
                select(Position.position_type, func.count()).where(
                    Position.portfolio_id == portfolio["id"], Position.deleted_at.is_(None)
                ).group_by(Position.position_type)
            ).all()
            deleted = conn.execute(
                select(func.count()).where(Position.portfolio_id == portfolio["id"], Position.deleted_at.is_not(None))
            ).scalar_one()
            tags = conn.execute(select(func.count()).select_from(Tag).where(Tag.user_id == user["id"])).scalar_one()
            links = conn.execute(
                select(func.count()).select_from(PositionTag).join(Position, Position.id == PositionTag.position_id)
                .where(Position.portfolio_id == portfolio["id"])
            ).scalar_one()
            print(f"portfolio:     {portfolio['name']} ({portfolio['id']}, {portfolio['currency']})")
            by_type = ", ".join(f"{t.value if hasattr(t, 'value') else t} {n}" for t, n in sorted(active, key=lambda r: str(r[0])))
            print(f"positions:     {sum(n for _t, n in active)} active ({by_type}); {deleted} soft-deleted")
            print(f"tags:          {tags} ({links} links)")
        for row in audit_rows:
            print(f"  audit {row['at']:%Y-%m-%d %H:%M:%S} {row['action']}: {row['outcome']}")
    return EXIT_OK


def cmd_prices(args) -> int:
    """Coverage and source per symbol, from the cache and (with --fetch) the provider chain."""
    from datetime import date

    from sigmasight_onboarding.assets.market_data import backfill_prices
    from sigmasight_onboarding.calendar import sessions_between
    from sigmasight_onboarding.config import get_settings
    from sigmasight_onboarding.db.engine import get_engine
    from sigmasight_onboarding.db.market_data import load_prices, window_start
    from sigmasight_onboarding.resources.market_data_resource import MarketDataResource, resolve_as_of

    settings = get_settings()
    end = date.fromisoformat(args.end) if args.end else resolve_as_of(settings)
    start = date.fromisoformat(args.start) if args.start else window_start(end, settings.price_lookback_days)
    sessions = sessions_between(start, end)
    if not sessions:
        print(f"error: no NYSE session between {start} and {end}", file=sys.stderr)
        return EXIT_USAGE
    symbols = sorted({s.strip().upper() for s in args.symbols})
    engine = get_engine(settings.database_url)
    failures: dict[str, str] = {}
    if args.fetch:
        summary = backfill_prices(engine, MarketDataResource().chain(), symbols, sessions)
        failures = summary["failures"]
        print(f"fetched: {summary['rows_added']} rows in {summary['provider_calls']} provider call(s)")
    prices = load_prices(engine, symbols, sessions[0], sessions[-1])
    print(f"{'symbol':<10} {'sessions':>9} {'coverage':>9}  {'first':<10} {'last':<10} sources")
    worst = 1.0
    for sym in symbols:
        rows = prices[prices["symbol"] == sym]
        cov = len(rows) / len(sessions)
        worst = min(worst, cov)
        first = str(rows["date"].min()) if len(rows) else "-"
        last = str(rows["date"].max()) if len(rows) else "-"
        sources = ",".join(f"{k}:{v}" for k, v in rows["data_source"].value_counts().sort_index().items()) or "-"
        note = f"  ({failures[sym]})" if sym in failures else ""
        print(f"{sym:<10} {len(rows):>9} {cov:>8.1%}  {first:<10} {last:<10} {sources}{note}")
    print(f"window: {sessions[0]} .. {sessions[-1]} ({len(sessions)} NYSE sessions)")
    return EXIT_OK if worst >= 0.95 else EXIT_PIPELINE


def cmd_verify(args) -> int:
    """The verification checks, printed one per line; exit 0 only when every check passes."""
    from sigmasight_onboarding.config import get_settings
    from sigmasight_onboarding.db.engine import get_engine
    from sigmasight_onboarding.db.portfolio_reads import UnknownClient
    from sigmasight_onboarding.resources.market_data_resource import resolve_as_of
    from sigmasight_onboarding.verification import record_verification, verify_client

    settings = get_settings()
    engine = get_engine(settings.database_url)
    email = args.email.strip().lower()
    as_of = resolve_as_of(settings)
    try:
        checks = verify_client(engine, email, settings, as_of, sessions=args.sessions)
    except UnknownClient as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN
    passed = record_verification(engine, email, as_of, checks, source="cli")
    print(f"client {email} as of {as_of}:")
    for c in checks:
        print(f"  [{'PASS' if c.passed else 'FAIL'}] {c.name}: {c.detail}")
    live = _live_api_line(engine, email, settings)  # advisory: never changes READY
    print(f"  {live[1]}")
    n_pass = sum(c.passed for c in checks) + (live[0] == "PASS")
    n_eval = len(checks) + (live[0] != "SKIP")
    tail = "".join(f", 1 {w}" for k, w in (("WARN", "warned"), ("SKIP", "skipped")) if live[0] == k)
    print(f"checks: {n_pass}/{n_eval} passed" + (f", {len(checks) - sum(c.passed for c in checks)} failed"
                                                 if not passed else "") + tail)
    print("READY" if passed else "NOT READY")
    return EXIT_OK if passed else EXIT_PIPELINE


def _live_api_line(engine, email, settings) -> tuple[str, str]:
    """('PASS'|'WARN'|'SKIP', printed line) of the optional live API check."""
    from sigmasight_onboarding.assets.verification import LIVE_API_SKIP_REASON, _live_api_result

    live = _live_api_result(engine, email, settings)
    if live is None:
        return "SKIP", f"[SKIP] live_api: {LIVE_API_SKIP_REASON}"
    label = "PASS" if live.passed else "WARN"
    return label, f"[{label}] live_api: {live.description}"


def cmd_offboard(args) -> int:
    """Delete every row of a client (one transaction) and its partition, through the Dagster job."""
    from sigmasight_onboarding.definitions import defs

    email = args.email.strip().lower()
    job = defs.resolve_job_def("offboard_client")
    result = job.execute_in_process(
        instance=get_instance(), raise_on_error=False, tags={"sigmasight/trigger": "cli"},
        run_config={"ops": {"offboard_client_op": {"config": {"email": email}}},
                    "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
    )
    if not result.success:
        for reason in failure_reasons(result):
            print(f"error: {reason}", file=sys.stderr)
        return EXIT_UNKNOWN
    deleted = result.output_for_node("offboard_client_op")
    print(f"offboarded {email}: {sum(deleted.values())} rows deleted")
    for table, n in sorted(deleted.items()):
        if n:
            print(f"  {table:<32} {n}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sigmasight", description="SigmaSight client onboarding (Dagster)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("onboard", help="validate and onboard one drop folder")
    p.add_argument("drop_folder", help="e.g. data/imports/john.smith@example.com")
    p.add_argument("--log-level", default="ERROR", help="Dagster console log level (DEBUG shows every event)")
    p.add_argument("--sessions", type=int, default=30,
                   help="sessions of snapshots/risk/stress to materialise after onboarding, and to verify "
                        "(default 30; 0 = none, and no verification)")
    p.set_defaults(func=cmd_onboard)
    p = sub.add_parser("backfill", help="snapshots, risk metrics and stress tests for a date range")
    p.add_argument("email", help="client email, or 'all' for every client")
    p.add_argument("--start", required=True, help="YYYY-MM-DD")
    p.add_argument("--end", help="YYYY-MM-DD (default: --start)")
    p.add_argument("--log-level", default="ERROR")
    p.add_argument("--verbose", action="store_true", help="one line per session")
    p.set_defaults(func=cmd_backfill)
    p = sub.add_parser("status", help="what exists for a client")
    p.add_argument("email")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("verify", help="run the verification checks; exit 0 only when all pass")
    p.add_argument("email")
    p.add_argument("--sessions", type=int, default=None,
                   help="sessions of snapshots to expect (default SIGMASIGHT_ONBOARD_SESSIONS or 30)")
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("offboard", help="delete every row of a client (shared market data stays)")
    p.add_argument("email")
    p.set_defaults(func=cmd_offboard)
    p = sub.add_parser("prices", help="price coverage and source per symbol (exit 3 when any is below 95 %)")
    p.add_argument("symbols", nargs="+")
    p.add_argument("--start", help="YYYY-MM-DD (default: as-of minus the look-back)")
    p.add_argument("--end", help="YYYY-MM-DD (default: the as-of date)")
    p.add_argument("--fetch", action="store_true", help="fetch missing sessions through the provider chain first")
    p.set_defaults(func=cmd_prices)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else EXIT_OK
    try:
        return args.func(args)
    except ValueError as exc:  # configuration errors
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
