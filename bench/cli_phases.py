"""`python -m bench.cli_phases <sigmasight arguments>` — where the CLI's wall time goes, phase by phase.

Runs `sigmasight <arguments>` in this process (e.g. `onboard data/imports/demo_hedgefundstyle@sigmasight.com`)
with the CLI's own steps timed: creating the Dagster instance, the onboarding run, the time-series range run,
the verification run and, inside it, rendering the report. Prints each step's wall seconds and the total from
interpreter start (imports included); the CLI's output is hidden. Use with `/usr/bin/time` for the process's own
wall time. The settings come from the environment, as for `sigmasight` itself.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time

STARTED = time.perf_counter()


def main() -> None:
    import sigmasight_onboarding.cli as cli
    import sigmasight_onboarding.report as report

    imported = time.perf_counter()
    marks: list[tuple[str, float]] = []

    def timed(owner, name: str, label: str) -> None:
        real = getattr(owner, name)

        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                marks.append((label, time.perf_counter() - t0))

        setattr(owner, name, wrapper)

    timed(cli, "get_instance", "Dagster instance")
    timed(cli, "run_onboarding", "onboarding run")
    timed(cli, "run_timeseries", "time-series range run")
    timed(cli, "run_client_job", "verification run")
    timed(report, "build_report", "  of which the report")
    sys.argv = ["sigmasight", *sys.argv[1:]]
    code = 0
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            cli.main()
        except SystemExit as exc:
            code = exc.code or 0
    total = time.perf_counter() - STARTED
    runs = sum(s for label, s in marks if not label.startswith("  "))
    order = ["Dagster instance", "onboarding run", "time-series range run", "verification run", "  of which the report"]
    width = 40
    print(f"{'imports of the CLI and report modules':{width}s} {imported - STARTED:6.2f} s")
    for label in order:
        for got, seconds in marks:
            if got == label:
                print(f"{label:{width}s} {seconds:6.2f} s")
    print(f"{'the rest (code location import, the CLI)':{width}s} {total - (imported - STARTED) - runs:6.2f} s")
    print(f"{'total in this process':{width}s} {total:6.2f} s (exit code {code})")


if __name__ == "__main__":
    main()
