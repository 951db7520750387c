"""Pulse entry point: `python app.py [all|web|stream|worker|create-user|create-api-key|…]`,
and `python app.py cluster-up|cluster-down` (app/cluster/, `make cluster-up`)."""

import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main())
