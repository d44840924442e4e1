"""`make bench`: run every `benchmarks/bench_*.py` module's `main()`, then say where figures went.

`python -m benchmarks [name ...]` runs only the named modules (e.g. `localaws`).
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path

from benchmarks.common import results_dir

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if argv:
        wanted = {a if a.startswith("bench_") else f"bench_{a}" for a in argv}
        unknown = wanted - set(names)
        if unknown:
            print(
                f"unknown benchmark(s): {', '.join(sorted(unknown))}; "
                f"available: {', '.join(names)}",
                file=sys.stderr,
            )
            return 2
        names = [n for n in names if n in wanted]
    failed = []
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        began = time.monotonic()
        try:
            importlib.import_module(f"benchmarks.{name}").main()
        except Exception:  # noqa: BLE001 - report and go on with the other benchmarks
            traceback.print_exc()
            failed.append(name)
        print(f"({name}: {time.monotonic() - began:.0f} s)", flush=True)
    results = results_dir()
    shown = results.relative_to(Path.cwd()) if results.is_relative_to(Path.cwd()) else results
    print(f"\nFigures written to {shown}/:")
    for path in sorted(results.glob("*.json")):
        print(f"  {path.name}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
