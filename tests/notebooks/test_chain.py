"""helpers.chain without running notebooks: the demo's closing line read from recorded values,
and the committed outputs' printed text as a reader sees it."""

from __future__ import annotations

import json

from helpers.chain import closing_line, compact_streams
from helpers.results import MIME_TYPE


def recorded(name, value):
    return {
        "output_type": "display_data",
        "metadata": {},
        "data": {MIME_TYPE: {"name": name, "value": value}},
    }


def write_notebook(path, outputs):
    cells = [{"cell_type": "code", "source": "", "metadata": {}, "outputs": outputs}]
    path.write_text(json.dumps({"cells": cells, "metadata": {}}))
    return path


def test_closing_line_comes_from_the_recorded_values_whatever_was_printed_last(tmp_path):
    notebook = write_notebook(
        tmp_path / "03_deploy.ipynb",
        [
            recorded("deployment", {"tenant": "acme", "endpoint": "mt-acme", "version": 3}),
            recorded("predictions", {"labels": [0, 1], "probabilities": [0.12345, 0.9]}),
            # the last printed chunk is whitespace only: it used to hide the line
            {"output_type": "stream", "name": "stdout", "text": "something else\n"},
            {"output_type": "stream", "name": "stdout", "text": "\n  \n"},
        ],
    )
    assert closing_line(notebook) == (
        "tenant acme: endpoint mt-acme serves version 3; "
        "first test row -> churn probability 0.1235 (label: stayed)"
    )


def test_closing_line_is_none_when_nothing_was_deployed(tmp_path):
    notebook = write_notebook(tmp_path / "03_deploy.ipynb", [recorded("latest_version", {})])
    assert closing_line(notebook) is None


def test_compact_streams_keeps_what_a_reader_sees():
    frames = [
        {"output_type": "stream", "name": "stderr", "text": "\rbar:   0%|   | 0/5"},
        {"output_type": "stream", "name": "stderr", "text": ["\rbar:  20%|", "#  | 1/5"]},
        {"output_type": "stream", "name": "stderr", "text": "\rbar: 100%|###| 5/5\n"},
        {"output_type": "stream", "name": "stdout", "text": "Succeeded in 2.0s\r\n"},
        {"output_type": "stream", "name": "stderr", "text": "\n"},
        {"output_type": "execute_result", "data": {"text/plain": "table"}, "metadata": {}},
    ]
    assert compact_streams(frames) == [
        {"output_type": "stream", "name": "stderr", "text": "bar: 100%|###| 5/5\n"},
        {"output_type": "stream", "name": "stdout", "text": "Succeeded in 2.0s\n"},
        frames[-1],
    ]
