"""What every benchmark shares: percentiles, clients of a private server, results, tables.

A benchmark that needs its own localaws uses `localaws.ephemeral.running()` (free port,
temporary state, LOCALAWS_* and AWS_* set while it runs). Figures go to
`benchmarks/results/NAME.json`, or to `$BENCH_RESULTS_DIR/NAME.json` when that is set (for
trial runs that must not overwrite the committed figures).
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from localaws.core.config import Config

Rule = Literal["floor", "round", "linear"]
_SCALE = {"ms": 1000.0, "s": 1.0, "": 1.0}


def results_dir() -> Path:
    """Where figures are written (made if missing): $BENCH_RESULTS_DIR, else benchmarks/results."""
    path = Path(os.environ.get("BENCH_RESULTS_DIR") or Path(__file__).resolve().parent / "results")
    path.mkdir(parents=True, exist_ok=True)
    return path


def percentile(samples: Sequence[float], q: float, rule: Rule = "floor") -> float:
    """The `q` (0..1) percentile of `samples`.

    Rules, as the benchmarks have always computed them: "floor" picks sorted[int(q * n)],
    "round" picks sorted[round(q * (n - 1))], "linear" interpolates at q * (n - 1) (the median
    for q = 0.5).
    """
    if not samples:
        raise ValueError("percentile of no samples")
    ordered = sorted(samples)
    last = len(ordered) - 1
    if rule == "floor":
        return ordered[min(last, int(q * len(ordered)))]
    if rule == "round":
        return ordered[min(last, int(round(q * last)))]
    if rule == "linear":
        position = q * last
        low = math.floor(position)
        if low == position:
            return ordered[low]
        return ordered[low] + (ordered[low + 1] - ordered[low]) * (position - low)
    raise ValueError(f"unknown percentile rule {rule!r}: use floor, round or linear")


def percentiles(
    samples: Sequence[float], qs: Sequence[float] = (0.5, 0.95, 0.99), rule: Rule = "floor"
) -> dict[str, float]:
    """{"p50": ..., "p95": ..., "p99": ...} for the quantiles `qs` (0..1) of `samples`."""
    return {f"p{round(q * 100):g}": percentile(samples, q, rule) for q in qs}


def summary(
    samples: Sequence[float],
    qs: Sequence[float] = (0.5, 0.99),
    *,
    extras: Sequence[Literal["mean", "min", "max"]] = ("mean",),
    unit: Literal["ms", "s", ""] = "ms",
    digits: int = 2,
    rule: Rule = "floor",
) -> dict[str, float]:
    """Percentiles, then `extras`, then n, of samples in seconds, keys suffixed `_<unit>`.

    E.g. summary(xs) -> {"p50_ms", "p99_ms", "mean_ms", "n"}, values rounded to `digits`.
    """
    scale, suffix = _SCALE[unit], f"_{unit}" if unit else ""
    figures = {f"{k}{suffix}": v for k, v in percentiles(samples, qs, rule).items()}
    extra = {"mean": statistics.fmean, "min": min, "max": max}
    figures.update({f"{name}{suffix}": extra[name](samples) for name in extras})
    out: dict[str, float] = {k: round(v * scale, digits) for k, v in figures.items()}
    out["n"] = len(samples)
    return out


def client_factory(config: Config, max_attempts: int | None = None) -> Callable[[str], Any]:
    """`client("s3")` -> a boto3 client of the server `config` describes, as its admin.

    `max_attempts=1` turns retries off, so a timed call is one request.
    """
    import boto3
    from botocore.config import Config as BotoConfig

    from localaws.cli import env_vars

    env = env_vars(config)
    session = boto3.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )
    retries = BotoConfig(retries={"max_attempts": max_attempts}) if max_attempts else None
    return lambda name: session.client(name, endpoint_url=config.endpoint_url, config=retries)


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for the block (e.g. for a server started inside it)."""
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def write_results(name: str, data: dict) -> Path:
    """Write `data` as indented JSON to <results_dir()>/NAME.json; return the path."""
    path = results_dir() / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def publish(name: str, data: dict, show: Callable[[dict], None]) -> Path:
    """How every benchmark ends: write_results(name, data), `show(data)`, say where it went."""
    path = write_results(name, data)
    show(data)
    print(f"written to {path}")
    return path


def print_table(
    rows: Sequence[Sequence[object]], headers: Sequence[str], align: str | None = None
) -> None:
    """Print `rows` under `headers` in columns as wide as their widest cell.

    `align` has one character per column, "<" (left) or ">" (right); default: all left.
    """
    align = align or "<" * len(headers)
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        print("  ".join(f"{c:{a}{w}}" for c, a, w in zip(row, align, widths, strict=True)).rstrip())
