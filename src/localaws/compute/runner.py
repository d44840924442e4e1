"""What runs inside a job's process: set up the container-like environment, run the code.

Shared by the warm worker (a forked child of the zygote) and the cold fallback
(`python -m localaws.compute.runner SPEC.json`). A spec is a JSON-able dict:

- ``kind``: ``"script"`` (run ``path`` as ``__main__``), ``"call"`` (call ``target``,
  ``"package.module:function"``, with no arguments) or ``"command"`` (exec ``argv``)
- ``argv``: the arguments after the program, ``cwd``, ``env`` (the complete environment),
  ``log`` (file receiving stdout and stderr), ``failure_file`` (where the error of an
  uncaught exception is written, as SageMaker's containers write /opt/ml/output/failure),
  ``opt_ml`` (the job directory that stands in for /opt/ml; see `pathmap`), ``toolkit``
  (true: set the SM_* variables with the sagemaker-training toolkit from the config files).
"""

from __future__ import annotations

import importlib
import json
import os
import random
import runpy
import signal
import sys
import traceback

#: Exit code of a job whose code raised an uncaught exception.
ERROR_EXIT = 1


def _redirect_output(log: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    sys.stdin = open(0, closefd=False)


def _write_failure(path: str, message: str) -> None:
    # The job's own code may have written the failure file already; that message wins.
    if path and not (os.path.exists(path) and os.path.getsize(path)):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write(message)


def toolkit_env(base: str) -> dict[str, str]:
    """SM_* variables computed by the SageMaker training toolkit itself (sagemaker-training),
    from the job's config files, with its /opt/ml paths mapped to `base`."""
    import re

    # The toolkit fixes its base directory at import: make it /opt/ml (pathmap maps it).
    os.environ["SAGEMAKER_BASE_DIR"] = "/opt/ml"
    try:
        from sagemaker_training import environment

        variables = environment.Environment().to_env_vars()
    finally:
        del os.environ["SAGEMAKER_BASE_DIR"]
    opt_ml = re.compile(r"(?<![\w.\-/])/opt/ml(?![\w.\-])")
    return {k: opt_ml.sub(lambda _: base, v) for k, v in variables.items()}


def prepare(spec: dict) -> None:
    """Become the job: own session, environment, working directory and output streams."""
    try:
        os.setsid()
    except OSError:  # already a session leader (cold path: started with start_new_session)
        pass
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update(spec["env"])
    os.chdir(spec["cwd"])
    _redirect_output(spec["log"])
    if spec.get("opt_ml"):
        from localaws.compute import pathmap

        pathmap.install(spec["opt_ml"])
        if spec.get("toolkit"):
            os.environ.update(toolkit_env(spec["opt_ml"]))
    # Forked children inherit the zygote's random state; a container would start fresh.
    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(int.from_bytes(os.urandom(4), "little"))


def run(spec: dict) -> int:
    """Run the job's code in this (already prepared) process; return its exit code."""
    if spec["kind"] == "command":
        sys.stdout.flush()
        try:
            os.execvpe(spec["argv"][0], spec["argv"], os.environ)
        except OSError as exc:
            print(f"cannot execute {spec['argv'][0]}: {exc}", file=sys.stderr)
            _write_failure(spec.get("failure_file", ""), f"cannot execute {spec['argv'][0]}: {exc}")
            return 127
    target = spec["path"] if spec["kind"] == "script" else spec["target"]
    sys.argv = [target, *spec["argv"]]
    if spec["kind"] == "script":
        sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
    sys.path.insert(0, spec["cwd"])
    try:
        if spec["kind"] == "script":
            runpy.run_path(target, run_name="__main__")
        else:
            module, function = target.split(":")
            getattr(importlib.import_module(module), function)()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
            _write_failure(spec.get("failure_file", ""), str(exc.code))
    except BaseException as exc:  # noqa: BLE001 - the job's error becomes its FailureReason
        traceback.print_exc()
        _write_failure(
            spec.get("failure_file", ""), "".join(traceback.format_exception_only(exc)).strip()
        )
        code = ERROR_EXIT
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    return code


def main(argv: list[str] | None = None) -> None:
    """Cold path: run one job spec in this fresh interpreter."""
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0]) as fh:
        spec = json.load(fh)
    prepare(spec)
    os._exit(run(spec))


if __name__ == "__main__":
    main()
