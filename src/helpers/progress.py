"""Live progress for long operations that leaves one compact summary line behind.

In a Jupyter kernel (interactive, papermill, nbval) the line is one display that is updated in
place (`display(..., display_id=True)` + `handle.update`): an executed notebook keeps only the
last update, the summary. In a terminal the line is redrawn with `\\r` while the operation runs
and ends as the summary; on any other stream (a log file, a StringIO) only the summary is
written. Used by tenant create/delete, deploy and the pipeline wait.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

ProgressTarget = bool | TextIO | None
"""What a `progress=` argument takes: True (notebook or stdout), False/None (silent), a stream."""


def _notebook_display() -> Callable[..., Any] | None:
    """IPython's `display` when running inside a Jupyter kernel, else None."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or not hasattr(shell, "kernel"):
        return None
    from IPython.display import display

    return display


class _Text:
    """A display object whose only representation is plain text (no HTML, no repr quotes)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


class Progress:
    """One operation's progress line: `update()` while it runs, `finish()` with the summary."""

    def __init__(self, target: ProgressTarget = True):
        self._handle: Any = None
        self._stream: TextIO | None = None
        self._live = False
        self._width = 0
        if target is True:
            display = _notebook_display()
            if display is not None:
                self._handle = display(_Text(""), display_id=True)
                return
            target = sys.stdout
        if target:
            self._stream = target
            self._live = bool(getattr(target, "isatty", lambda: False)())

    @property
    def enabled(self) -> bool:
        return self._handle is not None or self._stream is not None

    @property
    def live(self) -> bool:
        """Whether `update` shows anything (a notebook display or a terminal): only then is
        the current state worth asking for."""
        return self._handle is not None or self._live

    def update(self, text: str) -> None:
        """Show `text` as the operation's current state (replaces the previous one)."""
        if self._handle is not None:
            self._handle.update(_Text(text))
        elif self._stream is not None and self._live:
            self._stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
            self._stream.flush()

    def finish(self, summary: str) -> None:
        """Replace the live line with `summary`, the one line that stays."""
        if self._handle is not None:
            self._handle.update(_Text(summary))
        elif self._stream is not None:
            prefix = "\r" if self._live else ""
            self._stream.write(prefix + summary.ljust(self._width if self._live else 0) + "\n")
            self._stream.flush()
