"""`python -m app.cluster up|down [--redis cluster|single] [--dir var/cluster]`, which
`make cluster-up` and `make cluster-down` run."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from app.cluster.layout import DEFAULT_REDIS_MODE, REDIS_MODES, Layout
from app.cluster.loopback import down, root_of, up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.cluster", description=__doc__)
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument(
        "--redis",
        choices=REDIS_MODES,
        default=os.environ.get("CLUSTER_REDIS") or DEFAULT_REDIS_MODE,
        help="the roles' Redis: a 3-primary Redis Cluster, or one server"
        f" (default: CLUSTER_REDIS, else {DEFAULT_REDIS_MODE})",
    )
    parser.add_argument("--dir", default=None, help="where it all lives (var/cluster)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING)
    layout = Layout(root_of(args.dir), args.redis)
    try:
        if args.command == "up":
            up(layout)
        else:
            down(layout)
    except (RuntimeError, OSError, ValueError) as err:  # ValueError: a REDIS_URL not understood
        print(f"error: {err}", file=sys.stderr)
        if isinstance(err, ValueError) and args.redis == "cluster":
            print("  (this Pulse cannot use a Redis Cluster: --redis single)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
