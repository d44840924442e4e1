"""A notebook's key results, recorded in its outputs so that tests read values, not text.

In a notebook, `record("accuracy", 0.83)` displays one output of the MIME type `MIME_TYPE`
holding `{"name": ..., "value": ...}`. Front ends have no renderer for that type, so nothing
shows in the rendered notebook; the value stays in the saved (or papermill-executed) `.ipynb`.
A test reads them all back with `read_results(path)`. Values must be JSON-serialisable
(numpy scalars and arrays are converted); a name recorded twice keeps its last value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MIME_TYPE = "application/vnd.multitenant-sagemaker.result+json"


def _plain(value: Any) -> Any:
    """`value` as plain JSON types; numpy / pandas scalars and arrays become Python ones."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars, pandas Series
        return _plain(value.tolist())
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise TypeError(f"cannot record {type(value).__name__} {value!r}: not JSON-serialisable")


def record(name: str, value: Any) -> Any:
    """Record `value` under `name` in the running notebook's outputs; return `value`.

    Outside IPython (a plain script) the value is only checked, nothing is displayed.
    """
    payload = {"name": name, "value": _plain(value)}
    json.dumps(payload, allow_nan=True)  # fail here, not when the notebook is saved
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        return value
    if get_ipython() is not None:
        display({MIME_TYPE: payload}, raw=True)
    return value


def read_results(notebook: Path | str) -> dict[str, Any]:
    """Every value recorded in an executed notebook, by name (later records win)."""
    cells = json.loads(Path(notebook).read_text())["cells"]
    results: dict[str, Any] = {}
    for cell in cells:
        for output in cell.get("outputs", []):
            payload = output.get("data", {}).get(MIME_TYPE)
            if payload is not None:
                results[payload["name"]] = payload["value"]
    return results
