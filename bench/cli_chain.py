"""`python -m bench.cli_chain [POSITIONS] [OPTIONS] [--db sqlite|postgresql]` — the whole CLI chain to READY, cold.

Issue 17's reported row: an 8,000-position book with 500 options (defaults), an empty price cache and a
fresh database, `sigmasight onboard <drop>` as a new process — onboarding (pre-flight, client write,
price backfill, analytics), the last SIGMASIGHT_ONBOARD_SESSIONS sessions of time series as one range
run, verification and the report — until the client is READY. Prints the wall time, the child's peak
RSS and the CLI's own output tail. Real prices (`../shared` parquet, else the shipped extract).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("positions", nargs="?", type=int, default=8_000)
    parser.add_argument("options", nargs="?", type=int, default=500)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()

    from bench import portfolios as pf
    from bench.runner import Databases

    base = Path(os.environ.get("BENCH_CLI_DIR", "/tmp/bench-cli-chain"))
    shutil.rmtree(base, ignore_errors=True)
    (base / "imports").mkdir(parents=True)
    universe = pf.load_universe()
    rng = pf.np.random.default_rng(17)
    n_eq = args.positions - args.options
    equities = pf.generate_positions(universe, round(n_eq / (1 - pf.OPTION_SHARE)) + 10, seed=17)[0]
    equities = equities[equities["underlying_symbol"] == ""].head(n_eq)
    options = pf.pd.DataFrame(pf._option_rows(universe, args.options, rng), columns=pf.CSV_HEADER)
    frame = pf.pd.concat([equities, options], ignore_index=True)
    email = pf.client_email(f"cli{args.positions}")
    folder = pf.write_drop(base / "imports", email, frame, pf.bcrypt_hash())
    if args.db == "sqlite":
        url = f"sqlite:///{base}/db.sqlite"
    else:
        databases = Databases(base)
        if not databases.pg_available():
            sys.exit(f"PostgreSQL not available: {databases.pg_error}")
        url = databases.fresh("postgresql", "clichain")
    env = {**os.environ, "PYTHONPATH": str(REPO), "SIGMASIGHT_DATABASE_URL": url, "SIGMASIGHT_IMPORTS_DIR": str(base / "imports"),
           "SIGMASIGHT_STATE_DIR": str(base / "state"), "SIGMASIGHT_BCRYPT_ROUNDS": "4", "SIGMASIGHT_PROVIDERS": "file",
           "SIGMASIGHT_MARKET_DATA_FILE": str(pf.market_data_file()[0]), "SIGMASIGHT_AS_OF": pf.AS_OF.isoformat(),
           "PYTHONWARNINGS": "ignore"}
    env.pop("DAGSTER_HOME", None)
    n_opt = int((frame["underlying_symbol"] != "").sum())
    print(f"{len(frame):,} positions ({len(frame) - n_opt:,} equities, {n_opt} options), {args.db}, cold cache; "
          f"1-min load {os.getloadavg()[0]:.1f}", flush=True)
    cli = str(Path(sys.executable).parent / "sigmasight")
    t0 = time.perf_counter()
    done = subprocess.run([cli, "onboard", str(folder)], env=env, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print("\n".join(line[:220] for line in (done.stdout + done.stderr).strip().splitlines()))
    print(f"\nexit {done.returncode}; wall {seconds:.1f} s (process start to READY); peak RSS {rss_mb:,.0f} MB")
    if args.db == "postgresql":
        databases.drop_all()


if __name__ == "__main__":
    main()
