"""`python -m bench.ui_backfill [SESSIONS] [--postgresql]` — Asset backfill of 1 client × N sessions through `dagster dev` (webserver + daemon) and GraphQL
launchPartitionBackfill — what the UI's Materialize dialog sends. Prints the wall time from launch
to the backfill's completion and the runs it created. With --postgresql, Dagster's storage is
deploy/dagster-postgres.yaml with deploy/dagster.env (the production instance) and the SigmaSight
database is PostgreSQL too, in two throw-away databases on SIGMASIGHT_TEST_POSTGRES_URL's server."""
import json, os, shutil, signal, subprocess, sys, time, urllib.request
from pathlib import Path

args = [a for a in sys.argv[1:] if not a.startswith("--")]
N = int(args[0]) if args else 250
POSTGRES = "--postgresql" in sys.argv[1:]
REPO = Path(__file__).resolve().parents[1]
base = Path(os.environ.get("BENCH_UI_DIR", "/tmp/bench-ui-backfill")); shutil.rmtree(base, ignore_errors=True); base.mkdir(parents=True)
home = base / "home"; home.mkdir()
pg_env, pg_dbs = {}, []
if POSTGRES:
    import uuid

    from dotenv import dotenv_values
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = make_url(os.environ.get("SIGMASIGHT_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"))
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    pg_dbs = [f"ui_backfill_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("dagster", "sigmasight")]
    with admin.connect() as conn:
        for name in pg_dbs:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    shutil.copy(REPO / "deploy" / "dagster-postgres.yaml", home / "dagster.yaml")
    pg_env = {**dotenv_values(REPO / "deploy" / "dagster.env"),
              "DAGSTER_PG_URL": admin_url.set(drivername="postgresql+psycopg2", database=pg_dbs[0]).render_as_string(hide_password=False),
              "SIGMASIGHT_DATABASE_URL": admin_url.set(database=pg_dbs[1]).render_as_string(hide_password=False)}
else:
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
(base / "imports").mkdir()
from bench import portfolios as pf
market = str(pf.market_data_file()[0])
env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO), "SIGMASIGHT_DATABASE_URL": f"sqlite:///{base}/db.sqlite",
       "SIGMASIGHT_IMPORTS_DIR": str(base / "imports"), "SIGMASIGHT_STATE_DIR": str(base / "state"), "SIGMASIGHT_BCRYPT_ROUNDS": "4",
       "SIGMASIGHT_MARKET_DATA_FILE": market, **pg_env}
print("storage:", "PostgreSQL (deploy/dagster-postgres.yaml + deploy/dagster.env), SigmaSight DB on PostgreSQL" if POSTGRES
      else "SQLite (the project's dagster.yaml), SigmaSight DB on SQLite", flush=True)
frame, _ = pf.generate_positions(pf.load_universe(), 100, seed=7)
email = "uibackfill@example.com"
pf.write_drop(base / "imports", email, frame)
bin_dir = Path(sys.executable).parent
subprocess.run([str(bin_dir / "sigmasight"), "onboard", str(base / "imports" / email), "--sessions", "0"], env=env, cwd=REPO)
ws = base / "workspace.yaml"
ws.write_text(f"load_from:\n  - python_module:\n      module_name: sigmasight_onboarding.definitions\n      working_directory: {REPO}\n      location_name: sigmasight_onboarding\n")
log = open(base / "dev.log", "w")
dev = subprocess.Popen([str(bin_dir / "dagster"), "dev", "-w", str(ws), "-p", "3011", "-h", "127.0.0.1"], env=env, cwd=REPO,
                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
print("dagster dev pid", dev.pid, flush=True)

def gql(query, variables=None):
    req = urllib.request.Request("http://127.0.0.1:3011/graphql", data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=60).read())

try:
    for _ in range(180):
        try:
            r = gql('{ repositoriesOrError { ... on RepositoryConnection { nodes { name } } } }')
            if r.get("data", {}).get("repositoriesOrError", {}).get("nodes"):
                break
        except Exception:
            pass
        time.sleep(2)
    sys.path.insert(0, str(REPO))
    os.environ.update({k: v for k, v in env.items() if k.startswith("SIGMASIGHT")})
    from sigmasight_onboarding.calendar import last_sessions
    from datetime import date
    days = last_sessions(date(2026, 8, 3), N)
    keys = [f"{email}|{d.isoformat()}" for d in days]
    mutation = """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
      __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } ... on InvalidSubsetError { message } } }"""
    assets = [{"path": [a]} for a in ("portfolio_snapshots", "portfolio_risk_metrics", "stress_test_results")]
    t0 = time.perf_counter()
    res = gql(mutation, {"p": {"assetSelection": assets, "partitionNames": keys, "tags": [{"key": "sigmasight/trigger", "value": "ui-bench"}]}})
    print(res, flush=True)
    bid = res["data"]["launchPartitionBackfill"]["backfillId"]
    status = None
    while time.perf_counter() - t0 < 900:
        r = gql('query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status numPartitions '
                'runs(limit: 20) { runId status tags { key value } } } } }', {"id": bid})
        b = r["data"]["partitionBackfillOrError"]
        status = b["status"]
        if status in ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"):
            break
        time.sleep(1)
    wall = time.perf_counter() - t0
    launched = time.time() - wall  # the launch, on the wall clock Dagster stamps runs with
    runs = b["runs"]
    print(f"RESULT sessions={N} backfill status={status} wall={wall:.1f}s runs={len(runs)} "
          f"run statuses={[x['status'] for x in runs]} tags={[{t['key']: t['value'] for t in x['tags'] if 'range' in t['key']} for x in runs]}")
    try:  # where the wall time went: the backfill daemon's loop, the run's process start, the run itself
        for x in runs:
            r = gql('query($id: ID!) { runOrError(runId: $id) { ... on Run { creationTime startTime endTime } } }', {"id": x["runId"]})
            t = r["data"]["runOrError"]
            print(f"TIMELINE launch -> run created {t['creationTime'] - launched:.1f} s, created -> started "
                  f"{t['startTime'] - t['creationTime']:.1f} s, started -> success {t['endTime'] - t['startTime']:.1f} s, "
                  f"success -> backfill {status} {launched + wall - t['endTime']:.1f} s")
    except Exception as exc:  # a timeline is a bonus, never a failure
        print(f"TIMELINE unavailable: {exc}")
finally:
    os.killpg(dev.pid, signal.SIGTERM)
    try:
        dev.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(dev.pid, signal.SIGKILL)
    if pg_dbs:
        with admin.connect() as conn:
            for name in pg_dbs:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
