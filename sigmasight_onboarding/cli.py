"""`sigmasight` command line: the same Dagster definitions and instance as the UI.

Exit codes: 0 success; 1 bad input (every problem printed, nothing written); 2 usage error;
3 the pipeline ran but a step or a check failed; 4 unknown client.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
from pathlib import Path

EXIT_OK, EXIT_BAD_INPUT, EXIT_USAGE, EXIT_PIPELINE, EXIT_UNKNOWN = 0, 1, 2, 3, 4
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """SIGINT/SIGTERM reached the CLI: stop at once (exit 128 + signal number)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _SignalWatch:
    """SIGINT/SIGTERM for the long commands (onboard, backfill).

    Outside a Dagster run our handler raises `Interrupted` at once. Inside one, Dagster installs its
    own handler (it interrupts the running step, which fails and rolls back its transaction); the
    signal number still reaches us through `signal.set_wakeup_fd`, and `check()` before and after
    every run raises `Interrupted` so the CLI stops instead of starting the next run.

    A signal whose handler happens to run inside a finalizer (a weakref callback, a ``__del__``)
    raises `Interrupted` where Python can only print it as "Exception ignored in …" with a
    traceback: that print is suppressed (``sys.unraisablehook``), and the signal, still unread on
    the wakeup fd, stops the CLI at the next `check()`.
    """

    def __init__(self):
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        self._previous_unraisable = sys.unraisablehook
        sys.unraisablehook = self._unraisable
        for s in STOP_SIGNALS:
            signal.signal(s, self._raise)

    def _unraisable(self, unraisable) -> None:
        if isinstance(unraisable.exc_value, Interrupted):
            return  # raised inside a finalizer: the wakeup fd still holds the signal for check()
        self._previous_unraisable(unraisable)

    @staticmethod
    def _raise(signum, _frame):
        raise Interrupted(signum)

    def pending(self) -> int | None:
        try:
            data = self._reader.recv(64)
        except (BlockingIOError, InterruptedError):
            return None
        numbers = [b for b in data if b in (int(signal.SIGINT), int(signal.SIGTERM))]
        return numbers[-1] if numbers else None

    def check(self) -> None:
        signum = self.pending()
        if signum is not None:
            raise Interrupted(signum)

    def close(self) -> None:
        sys.unraisablehook = self._previous_unraisable
        signal.set_wakeup_fd(self._previous_fd)
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._reader.close()
        self._writer.close()


_WATCH: _SignalWatch | None = None


def check_interrupt() -> None:
    """Raise `Interrupted` when SIGINT/SIGTERM arrived and was not raised yet (during the last Dagster
    run, or inside a finalizer)."""
    if _WATCH is not None:
        _WATCH.check()


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
    from sigmasight_onboarding.ephemeral_instance import ephemeral_instance

    return ephemeral_instance()  # DagsterInstance.ephemeral() with the pooled in-memory event log


def _print_problems(count: int, lines: list[str], limit: int = 200) -> None:
    """A rejection as the run reported it: its problem count and the first problem lines (`str(DropProblem)`)."""
    shown = lines[:limit]
    print(f"REJECTED: {count} problem(s); nothing was written.", file=sys.stderr)
    for line in shown:
        print(f"  - {line}", file=sys.stderr)
    if count > len(shown):
        print(f"  … and {count - len(shown):,} more", file=sys.stderr)


def _meta_value(meta, key: str, default=None):
    value = (meta or {}).get(key)
    return default if value is None else getattr(value, "value", value)


def _step_failure_metadata(result) -> list[dict]:
    """The metadata of every `Failure` a step of the run raised."""
    out = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            data = event.step_failure_data.user_failure_data
            if data is not None and data.metadata:
                out.append(data.metadata)
    return out


class _HeldStderr:
    """At the default log level (ERROR and above) Dagster's console output of the onboarding run —
    a rejection's step failure with its stack — is held back until the run ends: a refused drop then
    prints only what the run reported (its event log keeps every event); any other outcome, or an
    interruption, gets the held output unchanged. Lower levels stream as before."""

    def __init__(self, log_level: str):
        import io
        import logging

        level = logging.getLevelName(str(log_level).upper())
        self.buffer = io.StringIO() if isinstance(level, int) and level >= logging.ERROR else None
        self._redirect = None

    def __enter__(self):
        if self.buffer is not None:
            from contextlib import redirect_stderr

            self._redirect = redirect_stderr(self.buffer)
            self._redirect.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._redirect is not None:
            self._redirect.__exit__(exc_type, exc, tb)
            self._redirect = None
        if exc_type is not None:
            self.release()
        return False

    def release(self) -> None:
        if self.buffer is not None and self.buffer.getvalue():
            sys.stderr.write(self.buffer.getvalue())
        self.buffer = None

    def discard(self) -> None:
        self.buffer = None


def drop_check(result):
    """The run's `drop_passes_schema` evaluation (the asset validated the drop), or None."""
    return next((c for c in result.get_asset_check_evaluations() if c.check_name == "drop_passes_schema"), None)


def drop_rejection(result) -> tuple[int, list[str]] | None:
    """(problem count, problem lines) when the run rejected the drop — read from its failed
    `drop_passes_schema` check, else from the step's Failure metadata; None otherwise."""
    check = drop_check(result)
    candidates = ([check.metadata] if check is not None and not check.passed else []) + _step_failure_metadata(result)
    for meta in candidates:
        count = _meta_value(meta, "problem_count")
        if count is not None:
            return int(count), [str(line) for line in _meta_value(meta, "problem_lines", [])]
    return None


def configuration_refusal(result) -> str | None:
    """Why the run refused the configuration (e.g. synthetic prices in production), or None."""
    from sigmasight_onboarding.assets.onboarding import REFUSED_CONFIGURATION

    for meta in _step_failure_metadata(result):
        if _meta_value(meta, "refused") == REFUSED_CONFIGURATION:
            return str(_meta_value(meta, "reason", "configuration refused"))
    return None


def drop_warnings(result) -> tuple[int, list[str]]:
    """(warning count, the first warning lines) of the drop, from the run's passed `drop_passes_schema` check."""
    check = drop_check(result)
    if check is None or not check.passed:
        return 0, []
    return int(_meta_value(check.metadata, "warnings", 0)), [str(w) for w in _meta_value(check.metadata, "warning_lines", [])]


def _print_warnings(count: int, lines: list[str], limit: int = 20) -> None:
    for warning in lines[:limit]:
        print(f"warning: {warning}")
    if count > limit:
        print(f"warning: … and {count - limit:,} more (the first {limit} are in the audit log)")


def run_onboarding(key: str, instance, *, tags: dict | None = None, log_level: str = "WARNING"):
    """Materialise every client-partitioned onboarding asset for `key`; returns the run result."""
    from sigmasight_onboarding.definitions import defs
    from sigmasight_onboarding.partitions import CLIENTS_PARTITION

    if not instance.has_dynamic_partition(CLIENTS_PARTITION, key):
        instance.add_dynamic_partitions(CLIENTS_PARTITION, [key])
    job = defs.resolve_job_def("onboard_client")
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    check_interrupt()
    result = job.execute_in_process(
        instance=instance, partition_key=key, raise_on_error=False, tags=tags or {}, run_config=run_config
    )
    check_interrupt()
    return result


def run_timeseries(key: str, days, instance, *, tags: dict | None = None, log_level: str = "ERROR", progress=None):
    """`backfill_timeseries` for one client over `days` as range runs: ONE in-process run per block
    of consecutive sessions (Dagster records every partition key). Returns [(block days, result)].
    Raises ValueError when a day is not a date partition (holiday, after the data)."""
    from sigmasight_onboarding.definitions import defs
    from sigmasight_onboarding.partitions import CLIENTS_PARTITION, range_run_tags, session_blocks

    blocks = session_blocks(days)
    if not instance.has_dynamic_partition(CLIENTS_PARTITION, key):
        instance.add_dynamic_partitions(CLIENTS_PARTITION, [key])
    job = defs.resolve_job_def("backfill_timeseries")
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    results = []
    for i, block in enumerate(blocks, 1):
        run_tags = {**(tags or {}), **range_run_tags(key, block)}
        check_interrupt()
        result = job.execute_in_process(instance=instance, raise_on_error=False, tags=run_tags, run_config=run_config)
        results.append((block, result))
        if progress:
            progress(i, len(blocks), block, result)
        check_interrupt()
    return results


def cmd_onboard(args) -> int:
    """Usage checks, then the `onboard_client` job — the same asset the sensor and the UI run validates,
    writes and audits the drop; its rejection, warnings and results are printed from the run."""
    from sigmasight_onboarding.config import get_settings
    from sigmasight_onboarding.sensors import drop_hash, drop_key

    settings = get_settings()
    if args.sessions is None:  # the same N as the time-series and verification sensors
        args.sessions = settings.onboard_sessions
    folder = Path(args.drop_folder)
    if not folder.is_dir():
        print(f"error: {folder} is not a folder", file=sys.stderr)
        return EXIT_USAGE
    imports = settings.imports_dir.resolve()
    # the folder's own entry must be in the imports folder (a symbolic link there is the run's to reject)
    if Path(os.path.abspath(folder)).parent.resolve() != imports:
        print(
            f"error: drop folders must sit directly inside the imports folder {imports} "
            "(SIGMASIGHT_IMPORTS_DIR); move the folder there or point SIGMASIGHT_IMPORTS_DIR at its parent",
            file=sys.stderr,
        )
        return EXIT_USAGE
    key = drop_key(folder)
    tags = {"sigmasight/trigger": "cli", "sigmasight/client": key}
    try:
        content_hash = drop_hash(settings.imports_dir, key)  # the sensor's tag, when the drop can be taken
    except OSError:
        content_hash = None  # unreadable: the run rejects the drop with the reason
    if content_hash:
        tags["sigmasight/drop_hash"] = content_hash
    instance = get_instance()
    with _HeldStderr(args.log_level) as held:
        result = run_onboarding(key, instance, tags=tags, log_level=args.log_level)
    refused, rejection = configuration_refusal(result), drop_rejection(result)
    if refused is not None or rejection is not None:
        held.discard()
    else:
        held.release()
    if refused is not None:  # e.g. synthetic prices in production: refused before anything was written
        print(f"error: {refused}; nothing was written", file=sys.stderr)
        return EXIT_USAGE
    if rejection is not None:
        _print_problems(*rejection)
        return EXIT_BAD_INPUT
    _print_warnings(*drop_warnings(result))
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
    if code != EXIT_OK:  # backfill_timeseries' failure hook recorded INCOMPLETE with the failed checks' problems
        return code
    verification = run_client_job("verify_client", key, instance, log_level=args.log_level,
                                  tags={"sigmasight/sessions": str(args.sessions)})  # verify against N, not 30
    return _report_verification(verification)


def run_client_job(job_name: str, key: str, instance, *, log_level: str = "ERROR", tags: dict | None = None,
                   asset_selection: list | None = None):
    """One in-process run of a client-partitioned job (verify_client, daily_refresh), optionally of a
    subset of its assets (AssetKeys)."""
    from sigmasight_onboarding.definitions import defs

    job = defs.resolve_job_def(job_name)
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    check_interrupt()
    result = job.execute_in_process(instance=instance, partition_key=key, raise_on_error=False, tags=tags or {},
                                    run_config=run_config, asset_selection=asset_selection)
    check_interrupt()
    return result


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
            lines = [line.strip() for line in error.message.strip().splitlines()[:5] if line.strip()]
            reasons.append(" ".join(lines)[:500])
    return reasons


def _report_timeseries(results) -> int:
    """results: [(block of sessions, run result)] from `run_timeseries`. WARN checks are printed
    as warnings and never count as failures; skipped checks are counted apart."""
    from sigmasight_onboarding.check_summary import CheckSummary, summarize_checks

    summaries = [(days, r, summarize_checks(r)) for days, r in results]
    failed = [(days, r, cs) for days, r, cs in summaries if not r.success or cs.failed]
    total = CheckSummary()
    for _days, _r, cs in summaries:
        total = total.merge(cs)
    n_total = sum(len(days) for days, _r in results)
    n_bad = sum(len(days) for days, _r, _cs in failed)
    first, last = results[0][0][0], results[-1][0][-1]
    print(f"time series:   {n_total - n_bad}/{n_total} sessions {first}..{last} in {len(results)} run(s) "
          f"(snapshots, risk metrics, stress tests); checks {total.line()}")
    warnings = [(days, c) for days, r in results for c in r.get_asset_check_evaluations() if not c.passed and is_warning(c)]
    for days, c in warnings[:20]:
        print(f"  [WARN] {c.partition or days[0]} {c.check_name}: {check_reason(c)}")
    for days, r, _cs in failed[:20]:
        reasons = failure_reasons(r)
        failed_checks = [f"{c.check_name} {c.partition or ''}: {check_reason(c)}" for c in r.get_asset_check_evaluations()
                         if not c.passed and not is_warning(c)]
        print(f"  FAILED {days[0]}..{days[-1]}: {'; '.join(reasons + failed_checks)}", file=sys.stderr)
    return EXIT_OK if not failed else EXIT_PIPELINE


def cmd_backfill(args) -> int:
    """Snapshots, risk and stress for a date range, one client or all: one range run per client."""
    from datetime import date

    from sigmasight_onboarding.calendar import sessions_between
    from sigmasight_onboarding.config import get_settings
    from sigmasight_onboarding.db.engine import get_engine
    from sigmasight_onboarding.db.portfolio_reads import client_emails
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
    from sigmasight_onboarding.partitions import is_date_partition

    days = [d for d in sessions_between(start, end) if is_date_partition(d)]
    if not days:
        print(f"error: no NYSE session between {start} and {end}", file=sys.stderr)
        return EXIT_USAGE
    known = set(client_emails(get_engine(settings.database_url)))
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
            done = 0

            def on_block(i, n, block, r, tick=tick):
                nonlocal done
                done += len(block)
                if args.verbose:
                    print(f"  [{i}/{n}] {block[0]}..{block[-1]} {'ok' if r.success else 'FAILED'}", flush=True)
                else:
                    tick(done, len(days), f"{block[0]}..{block[-1]}", r)

            results = run_timeseries(client, days, instance, tags={"sigmasight/trigger": "cli-backfill"},
                                     log_level=args.log_level, progress=on_block)
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
    by_name = {f"{c.asset_key.to_user_string()}:{c.check_name}": c for c in result.get_asset_check_evaluations()}
    for label, names in (("PASS", summary.passed), ("WARN", summary.warned), ("FAIL", summary.failed), ("SKIP", summary.skipped)):
        for name in names:
            line = f"  [{label}] {name}"
            if label in ("WARN", "FAIL") and name in by_name:
                line += f": {check_reason(by_name[name])}"
            print(line, file=sys.stderr if label == "FAIL" else sys.stdout)
    if not result.success:
        for reason in failure_reasons(result):
            print(f"FAILED: {reason}", file=sys.stderr)
        return EXIT_PIPELINE
    return EXIT_OK if not summary.failed else EXIT_PIPELINE


def is_warning(check) -> bool:
    """A WARN-severity check: printed as a warning, never changes the exit code or skips a stage."""
    from dagster import AssetCheckSeverity

    return getattr(check, "severity", None) == AssetCheckSeverity.WARN


CHECK_DETAIL_KEYS = ("symbols", "details", "below_threshold", "incomplete", "failures", "problems", "reasons", "jumps")


def check_reason(check, limit: int = 300) -> str:
    """Why a check failed, in the user's words: its description, else the metadata naming the rows/symbols."""
    if check.description:
        return _shorten(check.description, limit)
    meta = check.metadata or {}
    for key in CHECK_DETAIL_KEYS:
        if key in meta:
            value = meta[key]
            value = getattr(value, "value", value)
            records = getattr(value, "records", None)
            if records is not None:
                value = "; ".join(", ".join(f"{k}={v}" for k, v in r.data.items() if v not in (None, "")) for r in records[:10])
            text = str(value).strip()
            if text and text != "none":
                return _shorten(f"{key}: {text}", limit)
    return "failed (no detail recorded)"


def _shorten(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cmd_status(args) -> int:
    """What is stored for a client (db/client_status.py), its onboarding state and newest audit rows."""
    from sigmasight_onboarding.config import get_settings
    from sigmasight_onboarding.db.client_status import client_status
    from sigmasight_onboarding.db.engine import get_engine

    engine = get_engine(get_settings().database_url)
    status = client_status(engine, args.email)
    state, user, portfolio = status.state, status.user, status.portfolio
    if user is None:
        print(f"client {status.email}: no user in {engine.url.render_as_string(hide_password=True)}")
        if state.state == "REJECTED":
            print(f"state:         {state.describe()}")
        for row in status.audit:
            print(f"  audit {row['at']:%Y-%m-%d %H:%M:%S} {row['action']}: {row['outcome']}{_audit_note(row)}")
        return EXIT_UNKNOWN
    print(f"client:        {status.email} ({user['full_name']})")
    print(f"state:         {state.describe()}")
    if state.last_rejection is not None and state.at is not None and _naive(state.last_rejection) > _naive(state.at):
        print(f"last drop:     REJECTED at {state.last_rejection:%Y-%m-%d %H:%M:%S}; the stored client is unchanged")
    print(f"user id:       {user['id']}")
    if portfolio is not None:
        print(f"portfolio:     {portfolio['name']} ({portfolio['id']}, {portfolio['currency']})")
        by_type = ", ".join(f"{t} {n}" for t, n in status.active_by_type.items())
        print(f"positions:     {status.active_positions} active ({by_type}); {status.soft_deleted} soft-deleted")
        print(f"tags:          {status.tags} ({status.tag_links} links)")
    for row in status.audit:
        print(f"  audit {row['at']:%Y-%m-%d %H:%M:%S} {row['action']}: {row['outcome']}{_audit_note(row)}")
    return EXIT_OK


def _naive(value):
    return value.replace(tzinfo=None) if value is not None and value.tzinfo is not None else value


def _audit_note(row) -> str:
    details = row["details"] or {}
    if row["outcome"] == "incomplete":
        return f" at {details.get('stage')}: {details.get('reason')}"
    if row["outcome"] == "rejected":
        if details.get("configuration"):
            return f" (configuration refused: {_shorten(details['configuration'], 200)})"
        return f" ({details.get('problem_count', '?')} problem(s))"
    return ""


def cmd_prices(args) -> int:
    """Coverage and source per symbol, from the cache and (with --fetch) the provider chain."""
    from datetime import date

    from sigmasight_onboarding.price_backfill import backfill_prices
    from sigmasight_onboarding.calendar import sessions_between
    from sigmasight_onboarding.config import get_settings
    from sigmasight_onboarding.db.engine import get_engine
    from sigmasight_onboarding.db.price_cache import load_prices, window_start
    from sigmasight_onboarding.resources.market_data_resource import MarketDataResource, resolve_as_of
    from sigmasight_onboarding.domain import MIN_COVERAGE

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
    return EXIT_OK if worst >= MIN_COVERAGE else EXIT_PIPELINE


def cmd_verify(args) -> int:
    """Materialise the client's `onboarding_verification` asset through Dagster — its checks are the
    run's asset checks, in the UI when DAGSTER_HOME is set — and print them one per line; exit 0 only
    when every check passes (a skipped or warned live_api check never blocks)."""
    from dagster import AssetKey

    from sigmasight_onboarding.assets.verification import SESSIONS_TAG
    from sigmasight_onboarding.check_summary import skip_reasons, summarize_checks
    from sigmasight_onboarding.config import get_settings
    from sigmasight_onboarding.db.engine import get_engine
    from sigmasight_onboarding.db.portfolio_reads import UnknownClient, client_portfolio
    from sigmasight_onboarding.partitions import CLIENTS_PARTITION
    from sigmasight_onboarding.resources.market_data_resource import resolve_as_of

    settings = get_settings()
    engine = get_engine(settings.database_url)
    email = args.email.strip().lower()
    try:
        client_portfolio(engine, email)
    except UnknownClient as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN
    instance = get_instance()
    if not instance.has_dynamic_partition(CLIENTS_PARTITION, email):
        instance.add_dynamic_partitions(CLIENTS_PARTITION, [email])
    tags = {SESSIONS_TAG: str(args.sessions)} if args.sessions is not None else {}
    result = run_client_job("verify_client", email, instance, tags=tags, asset_selection=[AssetKey("onboarding_verification")])
    if not result.success and not result.get_asset_check_evaluations():
        for reason in failure_reasons(result):
            print(f"error: {reason}", file=sys.stderr)
        return EXIT_PIPELINE
    print(f"client {email} as of {resolve_as_of(settings)}:")
    summary = summarize_checks(result)
    labels = {**dict.fromkeys(summary.passed, "PASS"), **dict.fromkeys(summary.warned, "WARN"),
              **dict.fromkeys(summary.failed, "FAIL")}
    for evaluation in result.get_asset_check_evaluations():
        name = f"{evaluation.asset_check_key.asset_key.to_user_string()}:{evaluation.asset_check_key.name}"
        print(f"  [{labels[name]}] {evaluation.asset_check_key.name}: {evaluation.description or ''}")
    reasons = skip_reasons(result)
    for name in summary.skipped:
        check = name.split(":", 1)[1]
        print(f"  [SKIP] {check}: {reasons.get(check, '')}")
    print(f"checks: {summary.line()}")
    blocking = [n for n in summary.failed + summary.warned if not n.endswith(":live_api")]
    ready = result.success and not blocking
    print("READY" if ready else "NOT READY")
    return EXIT_OK if ready else EXIT_PIPELINE


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
    p.add_argument("--sessions", type=int, default=None,
                   help="sessions of snapshots/risk/stress to materialise after onboarding, and to verify "
                        "(default SIGMASIGHT_ONBOARD_SESSIONS or 30; 0 = none, and no verification)")
    p.set_defaults(func=cmd_onboard)
    p = sub.add_parser("backfill", help="snapshots, risk metrics and stress tests for a date range")
    p.add_argument("email", help="client email, or 'all' for every client")
    p.add_argument("--start", required=True, help="YYYY-MM-DD")
    p.add_argument("--end", help="YYYY-MM-DD (default: --start)")
    p.add_argument("--log-level", default="ERROR")
    p.add_argument("--verbose", action="store_true", help="one line per run")
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
    p = sub.add_parser("prices", help="price coverage and source per symbol (exit 3 when any is below 95 %%)")
    p.add_argument("symbols", nargs="+")
    p.add_argument("--start", help="YYYY-MM-DD (default: as-of minus the look-back)")
    p.add_argument("--end", help="YYYY-MM-DD (default: the as-of date)")
    p.add_argument("--fetch", action="store_true", help="fetch missing sessions through the provider chain first")
    p.set_defaults(func=cmd_prices)
    return parser


def interrupted_in(exc: BaseException) -> Interrupted | None:
    """The `Interrupted` that `exc` is or was raised from: a signal can land while a library runs (Dagster
    resolving a job definition wraps whatever its callback raised in DagsterInvalidDefinitionError ``from`` it)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, Interrupted):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def main(argv: list[str] | None = None) -> int:
    from sigmasight_onboarding.interpreter import configure_interpreter

    configure_interpreter()  # also for the commands that never load the code location
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else EXIT_OK
    global _WATCH
    watch = args.command in ("onboard", "backfill") and _WATCH is None and _in_main_thread()
    if watch:
        _WATCH = _SignalWatch()
    try:
        return args.func(args)
    except Exception as exc:  # noqa: BLE001 - only our Interrupted, however a library wrapped it, is handled here
        interrupted = interrupted_in(exc)
        if interrupted is None:
            if isinstance(exc, ValueError):  # configuration errors
                print(f"error: {exc}", file=sys.stderr)
                return EXIT_USAGE
            raise
        print(f"\ninterrupted by {interrupted}: stopped. Every step commits in one transaction, so the database is "
              "consistent; `sigmasight status` shows where the client stands, and the same command resumes.",
              file=sys.stderr)
        return 128 + interrupted.signum
    finally:
        if watch:
            _WATCH.close()
            _WATCH = None


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    sys.exit(main())
