"""Writing a file so that readers never see half of it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """``write(fh)`` into a fresh temporary file in `path`'s folder, then rename it to `path` (readers see the
    old file or the whole new one). Mode "x" never follows an existing file or symlink; permissions follow the
    umask; on any error the temporary file is removed and the error re-raised."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
