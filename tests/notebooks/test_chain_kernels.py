"""helpers.chain's kernels: each notebook runs on its own fresh kernel, started (and its
imports warmed) while the previous notebook ran, with nothing else carried over; `make demo`
starts localaws while the first kernel starts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import nbformat
import pytest

from helpers.chain import (
    NOTEBOOK_DIR,
    WARM_MODULES,
    Kernels,
    main,
    notebook_imports,
    run_notebook,
    start_localaws,
    warm_code,
)
from localaws.cli import CliError
from localaws.compute.workers import WARM_AT_START_ENV

pytestmark = pytest.mark.slow  # real kernels

PROBE = """
import os, sys
print(json.dumps({
    "pid": os.getpid(),
    "cwd": os.getcwd(),
    "left_over": "left_over" in globals(),
    "warm": [m for m in WARM_MODULES if m in sys.modules],
    "bound": [m for m in WARM_MODULES if m.split(".")[0] in globals()],
    "own_import_warm": "helpers.registry" in sys.modules,
    "own_import_bound": "registry" in globals(),
}))
left_over = True
"""


def probe_notebook(path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(f"import json\nWARM_MODULES = {list(WARM_MODULES)!r}"),
        nbformat.v4.new_code_cell(PROBE),
        # the notebook's own imports are warmed too (magics skipped), their names not bound
        nbformat.v4.new_code_cell("%matplotlib inline\nfrom helpers import registry"),
    ]
    nbformat.write(nb, path)
    return path


def test_each_notebook_gets_a_fresh_prestarted_warm_kernel(tmp_path):
    kernels = Kernels()
    seen = []
    try:
        sources = [probe_notebook(tmp_path / f"probe{index}.ipynb") for index in range(2)]
        for index, source in enumerate(sources):
            following = sources[1] if index == 0 else None
            target = run_notebook(source, tmp_path / f"out{index}.ipynb", {}, kernels, following)
            cells = nbformat.read(target, 4).cells
            assert [c.execution_count for c in cells] == [1, 2, 3]  # warming counted nothing
            seen.append(json.loads(cells[1].outputs[0]["text"]))
    finally:
        kernels.close()
    assert seen[0]["pid"] != seen[1]["pid"]
    for probe in seen:
        assert probe["cwd"] == str(NOTEBOOK_DIR)
        assert probe["left_over"] is False
        assert probe["warm"] == list(WARM_MODULES) and probe["bound"] == []
        assert probe["own_import_warm"] is True and probe["own_import_bound"] is False


def test_notebook_imports_are_read_from_its_code_cells(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("import markdown_is_not_code"),
        nbformat.v4.new_code_cell("%matplotlib inline\nimport pandas as pd, numpy\nx = 1"),
        nbformat.v4.new_code_cell("from helpers import pipeline, plots\nfrom . import nothing"),
        nbformat.v4.new_code_cell("def f():\n    import not_top_level\n"),
        nbformat.v4.new_code_cell("this is not python"),
    ]
    nbformat.write(nb, tmp_path / "n.ipynb")
    assert notebook_imports(tmp_path / "n.ipynb") == [
        ("matplotlib.pyplot", ()),  # what `%matplotlib inline` imports when it runs
        ("pandas", ()),
        ("numpy", ()),
        ("helpers", ("pipeline", "plots")),
    ]


def test_demo_stops_before_any_notebook_when_localaws_cannot_start(tmp_path, monkeypatch, capsys):
    with socket.socket() as taken:  # another program holds the port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("LOCALAWS_PORT", str(taken.getsockname()[1]))
        monkeypatch.setenv("LOCALAWS_STATE_DIR", str(tmp_path / "state"))
        assert main(["--tenant", "demo", "--out", str(tmp_path / "runs")]) == 1
    assert "in use by another program" in capsys.readouterr().err
    assert not list((tmp_path / "runs").glob("*.ipynb"))


@pytest.mark.parametrize(("notebook", "plots"), [("00_setup", False), ("02_pipeline", True)])
def test_a_kernel_imports_matplotlib_only_for_a_notebook_that_plots(notebook, plots):
    code = warm_code(NOTEBOOK_DIR / f"{notebook}.ipynb")
    probe = f"{code}\nimport sys\nprint('matplotlib.pyplot' in sys.modules)"
    answer = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert answer.stdout.strip() == str(plots)


def test_demo_leaves_the_warm_start_setting_to_the_server_it_started(tmp_path, monkeypatch):
    monkeypatch.delenv(WARM_AT_START_ENV, raising=False)
    with socket.socket() as taken:  # the start fails: the setting is restored all the same
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("LOCALAWS_PORT", str(taken.getsockname()[1]))
        monkeypatch.setenv("LOCALAWS_STATE_DIR", str(tmp_path / "state"))
        with pytest.raises(CliError):
            start_localaws()
    assert WARM_AT_START_ENV not in os.environ
