"""Run the notebook chain (00 -> 01 -> 02 -> 03) for one tenant with papermill."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO / "notebooks"
CHAIN = ("00_setup", "01_create_tenant", "02_pipeline", "03_deploy")


def run_chain(
    tenant: str,
    out_dir: Path,
    notebooks: tuple[str, ...] = CHAIN,
    backend: str = "local",
    extra: dict[str, dict] | None = None,
) -> list[Path]:
    """Execute each notebook of `notebooks` that exists, in order; return the executed copies."""
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    done = []
    for name in notebooks:
        source = NOTEBOOK_DIR / f"{name}.ipynb"
        if not source.exists():
            continue
        target = out_dir / f"{name}.ipynb"
        params = {"tenant_id": tenant, "backend": backend, **(extra or {}).get(name, {})}
        started = time.monotonic()
        print(f"==> {name} (tenant {tenant})", flush=True)
        papermill.execute_notebook(
            str(source), str(target), parameters=params, cwd=str(NOTEBOOK_DIR),
            progress_bar=sys.stdout.isatty(), kernel_name="python3",
        )
        print(f"    done in {time.monotonic() - started:.1f}s -> {target}", flush=True)
        done.append(target)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenant", default="demo")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--backend", default="local", choices=["local", "aws"])
    args = parser.parse_args(argv)
    out = args.out or REPO / "runs" / args.tenant
    executed = run_chain(args.tenant, out, backend=args.backend)
    print(f"\nExecuted notebooks for tenant {args.tenant!r}:")
    for path in executed:
        print(f"  {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
