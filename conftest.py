"""pytest root: nbval replays the committed notebooks (00 -> 99) against a fresh private localaws,
and the suite's split over pytest-xdist workers (`pytest -n 3`, the Makefile's WORKERS).

The committed outputs come from `python -m helpers.chain --refresh-committed`, which runs the
same chain on a fresh localaws too, so the checked cells reproduce. The replay's localaws starts
before the first notebook cell and stops after the last one, in whichever process runs them.

Under xdist, work is handed out a module at a time (module-scoped servers and stack deploys are
built once per module), the notebooks as one unit (the chain shares one localaws, in order),
and the modules of `BY_TEST` a test at a time: their tests are minutes long, independent, and
their module fixtures cheap beside them, so all workers share them. `HEAVY_FIRST` orders the
hand-out: the longest indivisible units first, then the fine-grained ones, so that the
workers finish together.

What a test follows to stay correct and fast under xdist:
- a server only through the `localaws` fixture or `localaws.ephemeral.running(<tmp dir>)`
  (free port, temporary state, environment restored); never a fixed port, ~/.localaws or a
  file written into the repository tree (use tmp_path);
- clients from a new `boto3.Session()` (or the `clients` fixture), never `boto3.client(...)`:
  boto3's default session keeps the first credentials it read, another server's admin keys
  once a module has run a server of its own (InvalidClientTokenId, order-dependent);
- nothing shared across modules but session fixtures (one per worker): no test relies on
  another module having run; a change to os.environ is undone by the fixture that made it;
- expensive setup (a server of its own, stack deploy, tenant, pipeline run, deploy) in a
  module-scoped fixture shared by the module's tests;
- `@pytest.mark.slow` (or `pytestmark`) on what takes over ~1 s on a quiet machine
  (`--durations`), so `make test-fast` stays under a minute;
- poll briskly (0.05-0.1 s), never a fixed long sleep: wait for the condition itself (e.g.
  `tenant_checks.after_second`, not `sleep(1)`);
- servers started in a test process (`localaws.cli.start`, so `running` and every restart)
  are forked from a warm, pre-patched process (tests/server_forks.py, installed by
  tests/conftest.py; LOCALAWS_TEST_PLAIN_STARTS=1 turns it off): the child is the real server
  (own session, log, lock, pid), but not the test's child, so a test that kills one waits with
  `server_forks.kill9(pid)`, never `os.waitpid`; the `localaws` command stays a plain start;
- a server restart still costs its state's restore: restart only to test a restart or a
  crash. A kill -9 test arms the running server (`test_tenant_faults.fault_server` /
  `Server.arm`, the file named by LOCALAWS_FAULT_KILL_FILE) and restarts it once after the
  kill; a server started with other settings is a module fixture of its own, not a restart
  of the shared one;
- a module that takes minutes is named in `HEAVY_FIRST` at its measured place, and in
  `BY_TEST` if its tests are independent of each other and its fixtures cheap beside them
  (else split into modules); a new kill -9 or tenant state-machine module usually belongs in
  both. A single test of minutes in a `BY_TEST` module is named in `HEAVY_FIRST` by its node
  id, near the top, so that it starts first and not at the end of the run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path

import pytest

NOTEBOOK_UNIT = "notebooks (one chain)"
LIFECYCLE = "tests/helpers/test_tenant_lifecycle.py"
# Work units (a module, NOTEBOOK_UNIT, or one test of a BY_TEST module), longest first, as
# measured with --durations on a loaded machine (relative costs, seconds loaded): the
# indivisible units, then the modules split per test (BY_TEST), whose tests are the bulk.
HEAVY_FIRST = (
    f"{LIFECYCLE}::test_delete_of_a_tenant_with_10000_object_versions",  # 314 s, one test
    "tests/notebooks/test_notebook_deploy.py",  # ~250 s
    "tests/notebooks/test_notebook_pipeline.py",  # ~200 s
    "tests/notebooks/test_notebooks_tiers.py",  # 178 s
    "tests/notebooks/test_chain_pathed_role.py",  # 132 s + its server
    "tests/localaws/test_endpoints.py",
    "tests/notebooks/test_notebook_batch.py",
    NOTEBOOK_UNIT,
    "tests/pipeline_steps/test_pipeline_steps.py",
    "tests/helpers/test_deploy.py",
    "tests/localaws/test_concurrency.py",
    "tests/localaws/test_multi_model.py",
    "tests/helpers/test_tenant_delete_limits.py",
    "tests/localaws/test_localaws_cli.py",
    "tests/notebooks/test_notebooks_tenants.py",
    "tests/localaws/test_compute_jobs.py",
    "tests/helpers/test_tenants.py",
    "tests/localaws/test_transform.py",
    "tests/localaws/test_stepfunctions.py",
    "tests/notebooks/test_notebook_own_data.py",
    "tests/compat/test_abalone.py",
    "tests/helpers/test_pooled_tier.py",
    "tests/helpers/test_deploy_faults.py",  # 8 x ~50 s
    "tests/helpers/test_pooled_faults.py",  # 4 x ~55 s
    "tests/helpers/test_tenant_faults.py",  # 25 x 15-55 s
    "tests/localaws/test_persistence.py",
    LIFECYCLE,
)
# Kill -9 runs (each test restarts its server) and independent tenant tests: seconds to a
# minute per test, their module fixtures (a server, a stack) cheap beside the whole.
BY_TEST = (
    "tests/helpers/test_tenant_faults.py",
    "tests/helpers/test_deploy_faults.py",
    "tests/helpers/test_pooled_faults.py",
    "tests/localaws/test_persistence.py",
    LIFECYCLE,
)

_replay = ExitStack()
_session_env = ExitStack()


@pytest.hookimpl(tryfirst=True)  # before tests/conftest.py starts the fork server with this env
def pytest_configure(config: pytest.Config) -> None:
    # Built pipeline definitions go to a temporary cache of this test session (shared by its
    # modules and notebook kernels), never the user's, which only seeds it (read only).
    if "MT_PIPELINE_CACHE_DIR" not in os.environ:
        folder = _session_env.enter_context(tempfile.TemporaryDirectory(prefix="mt-cache-"))
        _seed_definitions(Path(folder))
        os.environ["MT_PIPELINE_CACHE_DIR"] = folder
        _session_env.callback(os.environ.pop, "MT_PIPELINE_CACHE_DIR", None)
    # Likewise parsed state machine programs (localaws...stepfunctions.program_store).
    if "LOCALAWS_CACHE_DIR" not in os.environ:
        folder = _session_env.enter_context(tempfile.TemporaryDirectory(prefix="localaws-cache-"))
        os.environ["LOCALAWS_CACHE_DIR"] = folder
        _session_env.callback(os.environ.pop, "LOCALAWS_CACHE_DIR", None)


def _seed_definitions(folder: Path) -> None:
    """Copy into `folder` the definitions `make install` built into the user's cache (read
    only): a test server whose build has the same inputs publishes it, as the first demo
    does; an edit of anything a definition is built from is a miss (another key)."""
    from helpers.pipeline import definition_cache  # the test modules import it anyway

    for manifest in definition_cache.cache_dir().glob(f"[!.]*/{definition_cache.MANIFEST}"):
        try:
            shutil.copytree(manifest.parent, folder / manifest.parent.name)
        except OSError:  # unreadable: that build is only not reused
            shutil.rmtree(folder / manifest.parent.name, ignore_errors=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    _session_env.close()


def _is_notebook(item: pytest.Item | None) -> bool:
    return item is not None and Path(str(item.fspath)).suffix == ".ipynb"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # tryfirst: before nbval starts the notebook's kernel, which inherits LOCALAWS_* / AWS_*.
    if _is_notebook(item) and not _replay:
        from localaws.ephemeral import running

        _replay.enter_context(running())


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if _is_notebook(item) and not _is_notebook(nextitem):
        _replay.close()  # after nbval's kernel; its environment restored before other tests


def pytest_sessionfinish(session, exitstatus) -> None:
    _replay.close()


def module_of(nodeid: str) -> str:
    """A test's module; NOTEBOOK_UNIT for any notebook cell."""
    parts = nodeid.split("::")
    # nbval names cells `notebooks/00_setup::ipynb::Cell 0`
    notebook = parts[0].endswith(".ipynb") or parts[1:2] == ["ipynb"]
    return NOTEBOOK_UNIT if notebook else parts[0]


def work_unit(nodeid: str) -> str:
    """What one xdist worker runs as a whole: all notebooks, one test module, or (`BY_TEST`)
    one test."""
    module = module_of(nodeid)
    return nodeid if module in BY_TEST else module


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config, "workerinput"):
        return  # not an xdist worker: collection order unchanged
    rank = {unit: i for i, unit in enumerate(HEAVY_FIRST)}

    def order(item: pytest.Item) -> int:  # a test named in HEAVY_FIRST, else its module
        default = rank.get(module_of(item.nodeid), len(rank))
        return rank.get(work_unit(item.nodeid), default)

    items.sort(key=order)  # stable


try:
    from xdist.scheduler import LoadScopeScheduling
except ImportError:  # pytest-xdist not installed: tests run in one process
    pass
else:

    class ModuleScheduling(LoadScopeScheduling):
        """Hands out `work_unit`s in collection order (HEAVY_FIRST first)."""

        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(config: pytest.Config, log) -> LoadScopeScheduling:
        config.option.loadscopereorder = False  # keep HEAVY_FIRST's order
        return ModuleScheduling(config, log)
