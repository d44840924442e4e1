"""Redirect a job's Python-level file access under /opt/ml/ into its own job directory.

Containers see their data at /opt/ml/...; here every job has its own directory instead. Paths
in the request (entry point, arguments, environment) are rewritten before the job starts; this
shim catches the paths a script hard-codes (``open("/opt/ml/processing/input/x.csv")``,
``os.listdir``, ``pathlib``, pandas / numpy readers that use Python's open). Native code that
opens a hard-coded /opt/ml path itself (e.g. ``Booster.save_model("/opt/ml/model/m")``) is
not redirected: take such paths from the arguments or SM_* variables, as SageMaker advises.
"""

from __future__ import annotations

import builtins
import io
import os
import sys

PREFIX = "/opt/ml"
_ONE_PATH = (
    "stat",
    "lstat",
    "listdir",
    "scandir",
    "mkdir",
    "remove",
    "unlink",
    "rmdir",
    "chdir",
    "access",
    "chmod",
    "utime",
    "readlink",
    "open",
    "truncate",
)
_TWO_PATHS = ("rename", "replace", "link", "symlink")


def install(base: str) -> None:
    """From now on, in this process, /opt/ml/... means `base`/... for Python file APIs."""

    def mapped(path):
        if isinstance(path, int):
            return path
        try:
            text = os.fspath(path)
        except TypeError:
            return path
        if isinstance(text, bytes):
            return text
        if text == PREFIX or text.startswith(PREFIX + "/"):
            return base + text[len(PREFIX) :]
        return path

    def wrap(function, two: bool = False):
        if two:

            def wrapper(src, dst, *args, **kwargs):
                return function(mapped(src), mapped(dst), *args, **kwargs)
        else:

            def wrapper(path=".", *args, **kwargs):
                return function(mapped(path), *args, **kwargs)

        wrapper.__wrapped__ = function
        wrapper.__name__ = function.__name__
        return wrapper

    original_open = builtins.open
    builtins.open = io.open = wrap(original_open)
    for name in _ONE_PATH:
        if hasattr(os, name):
            setattr(os, name, wrap(getattr(os, name)))
    for name in _TWO_PATHS:
        if hasattr(os, name):
            setattr(os, name, wrap(getattr(os, name), two=True))
    if "numpy" in sys.modules:  # numpy's text readers/writers keep their own io.open reference
        try:
            from numpy.lib import _datasource

            _datasource._file_openers._load()
            _datasource._file_openers._file_openers[None] = builtins.open
        except (ImportError, AttributeError):
            pass
