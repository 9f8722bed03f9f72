"""One scenario in a fresh process: ``python -m bench.worker SPEC.json RESULT.json``.

The runner starts it, reads RESULT.json ({"ok": bool, "result" | "error"}) and takes the process's
peak RSS from ``os.wait4`` (the rusage of exactly this child).
"""

from __future__ import annotations

import json
import sys
import traceback
import warnings
from datetime import date, datetime


def _default(obj):
    if isinstance(obj, (date, datetime)):
        return obj.isoformat()
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    return str(obj)


def main(argv: list[str]) -> int:
    spec_path, out_path = argv[1], argv[2]
    with open(spec_path) as fh:
        spec = json.load(fh)
    warnings.filterwarnings("ignore")  # Dagster preview/beta warnings would flood the log
    try:
        from bench.scenarios import KINDS

        payload = {"ok": True, "result": KINDS[spec["kind"]](spec)}
        code = 0
    except BaseException as exc:  # report, never hang the runner
        payload = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-4000:]}
        code = 1
    with open(out_path, "w") as fh:
        json.dump(payload, fh, default=_default)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
