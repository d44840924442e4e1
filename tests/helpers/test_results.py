"""helpers.results: values recorded in a notebook's outputs and read back from the file."""

from __future__ import annotations

import json

import nbformat
import pytest

from helpers.results import MIME_TYPE, read_results, record


def test_record_outside_ipython_checks_and_returns_the_value():
    assert record("n", 3) == 3
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        record("bad", object())


def test_read_results_takes_the_last_record_of_each_name(tmp_path):
    def out(name, value):
        return {
            "output_type": "display_data",
            "metadata": {},
            "data": {MIME_TYPE: {"name": name, "value": value}},
        }

    nb = {
        "cells": [
            {"cell_type": "markdown", "source": "x"},
            {"cell_type": "code", "outputs": [out("a", 1), {"output_type": "stream", "text": "a"}]},
            {"cell_type": "code", "outputs": [out("a", 2), out("b", {"x": [1.5]})]},
        ]
    }
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    assert read_results(path) == {"a": 2, "b": {"x": [1.5]}}


def test_values_recorded_by_an_executed_notebook_are_read_back_and_invisible(tmp_path):
    import papermill

    source, target = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import numpy as np\n"
            "from helpers.results import record\n"
            "record('metrics', {'accuracy': np.float64(0.83), 'counts': np.array([1, 2])})\n"
            "record('status', 'Succeeded')\n"
            "record('nothing', None);"
        )
    ]
    nbformat.write(nb, source)
    papermill.execute_notebook(str(source), str(target), kernel_name="python3", progress_bar=False)
    assert read_results(target) == {
        "metrics": {"accuracy": 0.83, "counts": [1, 2]},
        "status": "Succeeded",
        "nothing": None,
    }
    # only the custom MIME type: front ends render nothing for it
    outputs = nbformat.read(target, as_version=4).cells[0].outputs
    assert [list(o["data"]) for o in outputs] == [[MIME_TYPE]] * 3
