"""An upload's body on disk: a temporary file the library's readers can read, and the folders
that processes killed mid-upload leave behind."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from geoverify.errors import InputError

UPLOAD_PREFIX = "geoverify-upload-"


def remove_stale_upload_folders(tmp: str | None = None) -> int:
    """Delete upload folders left in the temporary directory by processes that no longer run.

    :func:`read_body` names its folder ``geoverify-upload-<pid>-…``; a server killed while it
    parsed an upload leaves it behind (the upload itself was never stored: its transaction never
    committed). Folders of live processes are kept.

    Returns
    -------
    int
        How many folders were deleted.
    """
    removed = 0
    for folder in Path(tmp or tempfile.gettempdir()).glob(f"{UPLOAD_PREFIX}*-*"):
        pid_text = folder.name[len(UPLOAD_PREFIX) :].split("-", 1)[0]
        if not folder.is_dir() or not pid_text.isdigit() or process_alive(int(pid_text)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed += 1
    return removed


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_body(body: bytes, suffix: str, reader: Callable[[Path], Any], filename: str | None = None):
    """Write ``body`` to a temporary file named ``filename`` (or ``upload<suffix>``) and read it.

    Error messages and the fixes' ``source`` name the upload's file name, not the temporary folder.
    """
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(filename).name) if filename else ""
    if not name or not name.lower().endswith(suffix):
        name = (Path(name).stem or "upload") + suffix
    folder = tempfile.mkdtemp(prefix=f"{UPLOAD_PREFIX}{os.getpid()}-")
    try:
        path = Path(folder) / name
        path.write_bytes(body)
        try:
            result = reader(path)
        except InputError as exc:
            raise InputError(str(exc).replace(folder + "/", "")) from None
        # Evidence names the uploaded file (as the readers record it), never the temporary folder.
        if hasattr(result, "columns") and "source" in result.columns:
            result["source"] = result["source"].astype(str).str.replace(folder + "/", "", regex=False)
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)
