"""pytest root: nbval replays the committed notebooks (00 -> 99) against a fresh private localaws.

Their committed outputs come from `python -m helpers.chain --refresh-committed`, which runs the
same chain on a fresh localaws too, so the checked cells reproduce.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

_stack = ExitStack()


def pytest_collection_modifyitems(session, config, items) -> None:
    if any(Path(str(item.fspath)).suffix == ".ipynb" for item in items):
        from localaws.ephemeral import running

        _stack.enter_context(running())


def pytest_sessionfinish(session, exitstatus) -> None:
    _stack.close()
