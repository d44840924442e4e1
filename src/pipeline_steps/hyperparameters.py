"""XGBoost's documented bounds for the hyperparameters the pipeline sets, and their check.

Bounds from XGBoost's parameter documentation (the SageMaker XGBoost algorithm documents the
same ranges). `check_hyperparameters` is called by the helpers before anything is uploaded or
started, and by the training script before it trains. Python 3.8 syntax (training image).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple


class Bound(NamedTuple):
    integer: bool
    low: float
    high: float
    low_open: bool = False

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        left = "(" if self.low_open else "["
        high = "inf)" if math.isinf(self.high) else f"{self.high:g}]"
        return f"{kind} in {left}{self.low:g}, {high}"


INF = float("inf")
BOUNDS: dict[str, Bound] = {
    "max_depth": Bound(True, 0, INF),
    "eta": Bound(False, 0, 1),
    "gamma": Bound(False, 0, INF),
    "min_child_weight": Bound(False, 0, INF),
    "subsample": Bound(False, 0, 1, low_open=True),
    "colsample_bytree": Bound(False, 0, 1, low_open=True),
    "lambda": Bound(False, 0, INF),
    "alpha": Bound(False, 0, INF),
    "scale_pos_weight": Bound(False, 0, INF, low_open=True),
    "num_round": Bound(True, 1, INF),
}


def check_hyperparameters(values: dict[str, Any], known_only: bool = True) -> dict[str, Any]:
    """Return `values` (numbers parsed) if each is within its bound, else ValueError naming it.

    known_only: a name without a bound is an error (the helpers); False passes it on (training).
    """
    checked: dict[str, Any] = {}
    for name, value in values.items():
        bound = BOUNDS.get(name)
        if bound is None:
            if known_only:
                raise ValueError(f"unknown hyperparameter {name!r}; known: {sorted(BOUNDS)}")
            checked[name] = value
            continue
        try:
            number = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError):
            number = math.nan
        ok = (
            math.isfinite(number)
            and (number > bound.low if bound.low_open else number >= bound.low)
            and number <= bound.high
            and (not bound.integer or number == int(number))
        )
        if not ok:
            raise ValueError(
                f"hyperparameter {name}={value!r} is out of XGBoost's bounds: "
                f"expected {bound.describe()}"
            )
        checked[name] = int(number) if bound.integer else number
    return checked
