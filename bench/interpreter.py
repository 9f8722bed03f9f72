"""`python -m bench.interpreter [--rounds N] [drop folder]` — what `interpreter.configure_interpreter` saves.

Alternates, N rounds, a fresh interpreter with and without the project's collector settings (without: the
module's `_configured` flag set before anything configures it: CPython's thresholds, no exit handler) and
prints the wall seconds of each:

* `import sigmasight_onboarding.definitions` and exit — what every run worker pays on top of its run;
* with a drop folder: `sigmasight onboard <folder>` — the CLI's whole wall time, exit included.

The settings come from the environment, as for `sigmasight` itself (point SIGMASIGHT_STATE_DIR at a scratch
folder for the CLI rounds).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

IMPORT = "import sigmasight_onboarding.definitions"
CLI = "import sys; from sigmasight_onboarding.cli import main; sys.exit(main(['onboard', sys.argv[1]]))"
WITHOUT = "import sigmasight_onboarding.interpreter as i; i._configured = True; "


def _wall(code: str, *args: str) -> float:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {done.stderr[-2000:]}")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("drop", nargs="?")
    args = parser.parse_args()
    cases = [("import of the code location", IMPORT, ())]
    if args.drop:
        cases.append(("sigmasight onboard", CLI, (args.drop,)))
    for label, code, extra in cases:
        without, with_ = [], []
        for _ in range(args.rounds):
            without.append(_wall(WITHOUT + code, *extra))
            with_.append(_wall(code, *extra))
        print(f"{label}: without the settings {', '.join(f'{s:.2f}' for s in without)} s "
              f"(median {statistics.median(without):.2f}); with them {', '.join(f'{s:.2f}' for s in with_)} s "
              f"(median {statistics.median(with_):.2f})")


if __name__ == "__main__":
    main()
