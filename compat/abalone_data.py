"""Abalone-like records, generated: the UCI abalone layout without its data.

Columns (no header, as the UCI file): sex (M/F/I), length, diameter, height, whole weight,
shucked weight, viscera weight, shell weight, rings. The measurements grow together with the
animal's age and rings follow the shell weight, so a regression model has something to learn.
"""

from __future__ import annotations

import numpy as np

COLUMNS = [
    "sex",
    "length",
    "diameter",
    "height",
    "whole_weight",
    "shucked_weight",
    "viscera_weight",
    "shell_weight",
    "rings",
]


def records(rows: int, seed: int = 0) -> list[list]:
    """`rows` abalone-like records (lists in COLUMNS order)."""
    rng = np.random.default_rng(seed)
    age = rng.gamma(shape=6.0, scale=1.6, size=rows) + 1.0  # years, the hidden cause
    length = np.clip(0.12 + 0.6 * (1 - np.exp(-age / 9.0)) + rng.normal(0, 0.015, rows), 0.07, 0.8)
    diameter = np.clip(0.79 * length + rng.normal(0, 0.015, rows), 0.05, 0.65)
    height = np.clip(0.27 * length + rng.normal(0, 0.012, rows), 0.01, 0.25)
    whole = np.clip(2.6 * length**3 * (1 + rng.normal(0, 0.08, rows)) * 3.0, 0.002, 2.8)
    shucked = whole * rng.uniform(0.38, 0.48, rows)
    viscera = whole * rng.uniform(0.18, 0.24, rows)
    shell = whole * rng.uniform(0.26, 0.32, rows) * (1 + 0.03 * age / 10)
    rings = np.clip(np.rint(age * 1.1 + 1.5 + rng.normal(0, 0.8, rows)), 1, 29).astype(int)
    sex = np.where(age < 4.5, "I", np.where(rng.random(rows) < 0.5, "M", "F"))
    columns = [length, diameter, height, whole, shucked, viscera, shell]
    return [[sex[i], *(round(float(c[i]), 4) for c in columns), int(rings[i])] for i in range(rows)]


def csv_text(rows: int, seed: int = 0) -> str:
    """The records as the UCI file writes them: comma-separated, no header."""
    return "".join(",".join(str(v) for v in record) + "\n" for record in records(rows, seed))
