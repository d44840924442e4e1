"""Run the notebook chain (00 -> 01 -> 02 -> 03) for one tenant with papermill.

`--refresh-committed` re-executes the committed notebooks in place (00 -> 04, 99, default
parameters) on a fresh private localaws: the outputs nbval checks in `make test`.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from helpers.naming import tenant_id_problem
from localaws.cli import CliError

if TYPE_CHECKING:
    from jupyter_client.manager import KernelManager

# papermill, jupyter_client, pandas (helpers.summaries) and boto3 (helpers.session) are
# imported where used, ~1 s: `make demo` starts the first kernel and localaws before that.

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO / "notebooks"
CHAIN = ("00_setup", "01_create_tenant", "02_pipeline", "03_deploy")
FULL_CHAIN = (*CHAIN, "04_batch_score", "99_cleanup")  # 04 is not part of `make demo`


# ipykernel 7 warns on every start that its local TCP sockets are unencrypted.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]
# Imported into a waiting kernel's sys.modules (no name bound, nothing shown, no execution
# count): the libraries every notebook's first cell imports, ~1 s of each notebook; then
# what the notebook itself imports (`notebook_imports`). Only what the notebook uses: a
# kernel that imported matplotlib for nothing (00, 03) starts ~0.4 CPU s later.
WARM_MODULES = ("pandas", "boto3", "helpers.session")
# What an IPython magic line imports when it runs, by the magic's name.
MAGIC_IMPORTS = {"matplotlib": "matplotlib.pyplot"}


def notebook_imports(notebook: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(module, imported names) of each top-level import in the notebook's code cells, and
    the module of each magic of MAGIC_IMPORTS (`%matplotlib inline`: matplotlib.pyplot)."""
    found: list[tuple[str, tuple[str, ...]]] = []
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        for line in source.splitlines():
            magic = line.strip().lstrip("%").split(" ", 1)[0]
            if line.lstrip().startswith("%") and magic in MAGIC_IMPORTS:
                found.append((MAGIC_IMPORTS[magic], ()))
        # IPython magics and shell lines are not Python
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        try:
            body = ast.parse("\n".join(lines)).body
        except SyntaxError:
            continue
        for node in body:
            if isinstance(node, ast.Import):
                found += [(alias.name, ()) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.append((node.module, tuple(a.name for a in node.names if a.name != "*")))
    return found


def warm_code(notebook: Path | None) -> str:
    """Code that imports WARM_MODULES and `notebook`'s imports, binding no name. An import
    that fails is left to the notebook's own cell, which shows the error where it is."""
    imports = [(m, ()) for m in WARM_MODULES] + (notebook_imports(notebook) if notebook else [])
    return (
        f"for _m, _f in {imports!r}:\n"
        "    try:\n"
        "        __import__(_m, fromlist=list(_f))\n"
        "    except Exception:\n"
        "        pass\n"
        "del _m, _f"
    )


class Kernels:
    """Fresh python3 kernels for a chain, each started while the previous notebook runs.

    Every notebook still gets its own new kernel (no variable carries over between
    notebooks); its start-up (~2 s), the import of what the notebook imports (`warm_code`),
    and its shut-down overlap with the work before and after.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kernels")
        self._next: Future | None = None

    def _start(self, code: str) -> KernelManager:
        from jupyter_client.manager import KernelManager

        # The kernel inherits this process's environment and cwd at start, as papermill's would.
        manager = KernelManager(kernel_name="python3")
        manager.start_kernel(cwd=str(NOTEBOOK_DIR), extra_arguments=KERNEL_ARGUMENTS)
        client = manager.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
            # silent: no output, no history, the notebook's execution counts start at 1.
            client.execute_interactive(
                code,
                silent=True,
                store_history=False,
                timeout=60,
            )
        finally:
            client.stop_channels()
        return manager

    def prestart(self, notebook: Path | None = None) -> None:
        """Start a kernel for `notebook` (warmed with its imports) unless one is waiting."""
        if self._next is None:
            self._next = self._pool.submit(self._start, warm_code(notebook))

    def take(self, notebook: Path | None = None) -> KernelManager:
        self.prestart(notebook)
        assert self._next is not None
        manager, self._next = self._next.result(), None
        return manager

    def release(self, manager: KernelManager) -> None:
        self._pool.submit(manager.shutdown_kernel, now=True)

    def close(self) -> None:
        """Shut down a kernel started for no notebook (the chain stopped early), then wait."""
        if self._next is not None and self._next.exception() is None:
            self.release(self._next.result())
        self._pool.shutdown(wait=True)


def run_notebook(
    source: Path,
    target: Path,
    parameters: dict | None = None,
    kernels: Kernels | None = None,
    prestart_next: Path | None = None,
) -> Path:
    """Execute one notebook with papermill (cwd: the notebooks folder); return the output path.

    With `kernels`, it runs on a kernel from there and, given `prestart_next` (the next
    notebook), starts that notebook's kernel meanwhile.
    """
    import papermill

    started = time.monotonic()
    print(f"==> {source.stem}", flush=True)
    manager = kernels.take(source) if kernels else None
    if kernels and prestart_next:
        kernels.prestart(prestart_next)
    try:
        papermill.execute_notebook(
            str(source),
            str(target),
            parameters=parameters or {},
            cwd=str(NOTEBOOK_DIR),
            progress_bar=sys.stdout.isatty(),
            kernel_name="python3",
            extra_arguments=KERNEL_ARGUMENTS,
            km=manager,
        )
    finally:
        if kernels and manager is not None:
            kernels.release(manager)
    print(f"    done in {time.monotonic() - started:.1f}s -> {target}", flush=True)
    return target


def start_localaws() -> None:
    """Start localaws if it is not running, its job worker at once (`WARM_AT_START_ENV`,
    unless set otherwise): it imports while notebooks 00 and 01 run. Only the server sees
    the variable: a server that a later caller of this process starts does not inherit it."""
    from helpers.session import start_local
    from localaws.compute.workers import WARM_AT_START_ENV

    saved = os.environ.get(WARM_AT_START_ENV)
    os.environ[WARM_AT_START_ENV] = saved or "1"
    try:
        start_local()
    finally:
        if saved is None:
            os.environ.pop(WARM_AT_START_ENV, None)


def run_chain(
    tenant: str,
    out_dir: Path,
    notebooks: tuple[str, ...] = CHAIN,
    backend: str = "local",
    extra: dict[str, dict] | None = None,
) -> list[Path]:
    """Execute each notebook of `notebooks` that exists, in order; return the executed copies."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = [NOTEBOOK_DIR / f"{n}.ipynb" for n in notebooks]
    sources = [s for s in sources if s.exists()]
    done = []
    kernels = Kernels()
    try:
        if sources:
            kernels.prestart(sources[0])
        if backend == "local":
            start_localaws()  # `make demo`: the first kernel starts meanwhile
        for index, source in enumerate(sources):
            params = {"tenant_id": tenant, "backend": backend, **(extra or {}).get(source.stem, {})}
            following = sources[index + 1] if index + 1 < len(sources) else None
            done.append(run_notebook(source, out_dir / source.name, params, kernels, following))
    finally:
        kernels.close()
    return done


def closing_line(notebook: Path) -> str | None:
    """The demo's closing prediction line, rebuilt from the values an executed 03 recorded
    (None if it recorded no deployment or predictions, e.g. it stopped early)."""
    from helpers import summaries
    from helpers.results import read_results

    results = read_results(notebook)
    deployment, predictions = results.get("deployment"), results.get("predictions")
    if not deployment or not predictions or not predictions["probabilities"]:
        return None
    return summaries.closing_line(
        deployment["tenant"],
        deployment["endpoint"],
        deployment["version"],
        predictions["probabilities"][0],
        bool(predictions["labels"][0]),
    )


def refresh_committed() -> None:
    """Re-execute notebooks/ in place (00 -> 99, default parameters) on a fresh localaws."""
    from localaws.ephemeral import running

    with running():
        for name in FULL_CHAIN:
            source = NOTEBOOK_DIR / f"{name}.ipynb"
            run_notebook(source, source)
            tidy_committed(source)


def tidy_committed(notebook: Path) -> None:
    """Make an executed notebook fit to commit: drop papermill's run metadata (absolute paths,
    timestamps) and show each cell's printed text as a reader sees it (`compact_streams`)."""
    nb = json.loads(notebook.read_text())
    nb["metadata"].pop("papermill", None)
    for cell in nb["cells"]:
        for key in ("papermill", "execution"):
            cell.get("metadata", {}).pop(key, None)
        if "outputs" in cell:
            cell["outputs"] = compact_streams(cell["outputs"])
    notebook.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def compact_streams(outputs: list[dict]) -> list[dict]:
    """Merge consecutive chunks of the same stream and apply their carriage returns, as a
    terminal or Jupyter shows them: a progress bar's frames become its final line."""
    merged: list[dict] = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (
            output.get("output_type") == "stream"
            and previous is not None
            and previous.get("output_type") == "stream"
            and previous["name"] == output["name"]
        ):
            previous["text"] = _text(previous) + _text(output)
        else:
            merged.append(dict(output))
    for output in merged:
        if output.get("output_type") == "stream":
            lines = _text(output).split("\n")
            output["text"] = "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in lines)
    return [o for o in merged if o.get("output_type") != "stream" or o["text"].strip()]


def _text(output: dict) -> str:
    text = output.get("text", "")
    return text if isinstance(text, str) else "".join(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenant", default="demo")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--backend", default="local", choices=["local", "aws"])
    parser.add_argument(
        "--refresh-committed",
        action="store_true",
        help="re-execute the committed notebooks in place on a fresh localaws",
    )
    args = parser.parse_args(argv)
    if args.refresh_committed:
        refresh_committed()
        return 0
    problem = tenant_id_problem(args.tenant)
    if problem:
        print(f"make demo: invalid tenant id {args.tenant!r}: {problem}", file=sys.stderr)
        return 2
    out = args.out or REPO / "runs" / args.tenant
    try:
        executed = run_chain(args.tenant, out, backend=args.backend)
    except CliError as failure:  # localaws could not start (the port is taken, ...)
        print(f"make demo: localaws: {failure}", file=sys.stderr)
        return 1
    except Exception as failure:
        from papermill.exceptions import PapermillExecutionError

        if not isinstance(failure, PapermillExecutionError):
            raise
        print(f"notebook failed: {failure.ename}: {failure.evalue}", file=sys.stderr)
        return 1
    print(f"\nExecuted notebooks for tenant {args.tenant!r}:")
    for path in executed:
        print(f"  {path}")
    if executed and executed[-1].stem == "03_deploy" and (line := closing_line(executed[-1])):
        print(f"\n{line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
