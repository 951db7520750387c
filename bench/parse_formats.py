"""What reading a request costs in each ingest format: µs per point for the same 10,000
points (1,000 series × 10 samples or fields), body to validated points, in this process.

JSON: `parse_body` + `validate_points` (a client's data_id on each point, as a resending
client sends). Line protocol: `parse_lines`, 10 fields a line (Telegraf's shape). Remote
write: snappy + protobuf `decode` + `to_points`, 10 samples a series. Prints, asserts
nothing. Usage: .venv/bin/python bench/parse_formats.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data.domain import remote_write  # noqa: E402
from data.domain.line_protocol import parse_lines  # noqa: E402
from data.domain.points import parse_body, validate_points  # noqa: E402

SERIES, PER = 1_000, 10


def bodies(now_ms: int) -> dict[str, bytes]:
    """The same points in the three formats."""
    ts = now_ms - 10_000
    points = [
        {
            "data_id": f"d-{i}-{j}",
            "source": f"host-{i % 50}",
            "metric_type": f"cpu.usage_{j}.cpu:cpu{i // 50}",
            "timestamp": (ts + j) / 1000,
            "value": i * 0.5 + j,
        }
        for i in range(SERIES)
        for j in range(PER)
    ]
    fields = ",".join(f"usage_{j}={j}.5" for j in range(PER))
    lines = "".join(
        f"cpu,host=host-{i % 50},cpu=cpu{i // 50} {fields} {ts * 1_000_000}\n"
        for i in range(SERIES)
    )
    series = [
        (
            {"__name__": f"node_cpu_{i // 50}", "instance": f"host-{i % 50}:9100", "job": "node"},
            [(i * 0.5 + j, ts + j) for j in range(PER)],
        )
        for i in range(SERIES)
    ]
    return {
        "json": orjson.dumps(points),
        "line protocol": lines.encode(),
        "remote write": remote_write.encode(series),
    }


def run(fmt: str, body: bytes, now_ms: int) -> int:
    oldest = now_ms - 86_400_000
    if fmt == "json":
        items, _ = parse_body(body, False)
        return len(validate_points(items, now_ms, oldest)[0])
    if fmt == "line protocol":
        return len(parse_lines(body, "ns", now_ms, oldest).points)
    return len(remote_write.to_points(remote_write.decode(body), now_ms, oldest).points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    now_ms = int(time.time() * 1000)
    for fmt, body in bodies(now_ms).items():
        assert run(fmt, body, now_ms) == SERIES * PER, fmt
        best = min(_timed(fmt, body, now_ms) for _ in range(args.rounds))
        print(
            f"{fmt:>14}: {len(body) / 1024:7.0f} KiB, {best * 1e6 / (SERIES * PER):5.2f} µs/point"
        )


def _timed(fmt: str, body: bytes, now_ms: int) -> float:
    start = time.perf_counter()
    run(fmt, body, now_ms)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
