"""The secret key kept in var_dir/secret_key when SECRET_KEY is not set."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from pathlib import Path

log = logging.getLogger(__name__)


def _read_secret(path: Path) -> str:
    """The key stored in `path`, tightening the file to 0600 if it was readable by others."""
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        log.warning("%s was readable by other users; changing it to mode 0600", path)
        path.chmod(0o600)
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"{path} is empty; delete it to generate a new secret key")
    return key


def read_or_create_secret(path: Path) -> str:
    """The secret key from `path`, generated into it (mode 0600) by the first run."""
    with contextlib.suppress(FileNotFoundError):
        return _read_secret(path)
    key = secrets.token_urlsafe(48)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.unlink(missing_ok=True)
    # created 0600 from the start: never world readable, not even between create and chmod
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(key + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            # link() publishes the complete file atomically and fails if another process that
            # started at the same time got there first; then its key is the one to use
            os.link(temp, path)
        except FileExistsError:
            return _read_secret(path)
    finally:
        temp.unlink(missing_ok=True)
    log.info("generated a new secret key in %s", path)
    return key
