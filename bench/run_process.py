"""``python -m bench.run_process JOB TAGS_JSON [PARTITION_KEY]`` — one run in a process of its own, as a run worker.

What Dagster's run launcher does for every run the run queue starts (a new interpreter that loads the code
location and executes the run with the job's in-process executor), on the instance of ``DAGSTER_HOME``
(the project's dagster.yaml: every run process of a scenario shares its storage). Scenario E's parallel row
starts one per run the schedule and the sensor request, side by side. Prints one JSON line
``{"success", "seconds", "import_s"}``; the exit code is 0 when the run succeeded.
"""

from __future__ import annotations

import json
import sys
import time

STARTED = time.perf_counter()


def main() -> int:
    import warnings

    warnings.filterwarnings("ignore")
    from dagster import DagsterInstance

    from sigmasight_onboarding.definitions import defs

    job_name, tags = sys.argv[1], json.loads(sys.argv[2])
    partition_key = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
    imported = time.perf_counter()
    with DagsterInstance.get() as instance:
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance, tags=tags, partition_key=partition_key, raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
    done = time.perf_counter()
    print(json.dumps({"success": bool(result.success), "seconds": round(done - imported, 3),
                      "import_s": round(imported - STARTED, 3)}), flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    raise SystemExit(main())
