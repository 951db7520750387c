"""The server's open-file limit (app/cli.py): each /ws viewer holds a descriptor."""

from __future__ import annotations

import resource

from app.cli import allow_many_open_files


def test_soft_open_file_limit_is_raised_to_the_hard_limit_at_start() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
        allow_many_open_files()
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
