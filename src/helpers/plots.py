"""Pictures for the notebooks: the pipeline graph with step statuses, ROC, confusion matrix,
feature importance (02); the spread of a batch scoring's churn probabilities (04). Each
function returns a matplotlib Figure built without pyplot, so a notebook cell shows it exactly
once (as its value) and no figure stays open."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

STATUS_COLORS = {
    "Succeeded": "#2e7d32",
    "Failed": "#c62828",
    "Executing": "#1565c0",
    "Starting": "#1565c0",
    "Stopping": "#ef6c00",
    "Stopped": "#ef6c00",
    "Not run": "#9e9e9e",
}
DEFINED_COLOR = "#37474f"
# (x, y) of each step of the model build pipeline in the picture.
LAYOUT = {
    "Preprocess": (0, 0),
    "Train": (1, 0),
    "Evaluate": (2, 0),
    "CheckAccuracy": (3, 0),
    "RegisterModel": (4, 0.6),
    "AccuracyTooLow": (4, -0.6),
}
EDGES = [
    ("Preprocess", "Train"),
    ("Train", "Evaluate"),
    ("Evaluate", "CheckAccuracy"),
    ("CheckAccuracy", "RegisterModel"),
    ("CheckAccuracy", "AccuracyTooLow"),
]


def pipeline_graph(
    statuses: Mapping[str, str] | None = None,
    title: str = "",
    labels: Mapping[str, str] | None = None,
) -> Figure:
    """The pipeline's steps as boxes coloured by status (steps absent: 'Not run').

    With `statuses` None it draws the pipeline as defined: neutral boxes, each with its line of
    `labels` (e.g. the step type) under its name.
    """
    fig = Figure(figsize=(11, 3.2))
    ax = fig.subplots()
    for a, b in EDGES:
        (x0, y0), (x1, y1) = LAYOUT[a], LAYOUT[b]
        label = (
            {"RegisterModel": "accuracy >= threshold", "AccuracyTooLow": "else"}.get(b)
            if a == "CheckAccuracy"
            else None
        )
        ax.annotate(
            "",
            xy=(x1 - 0.38, y1),
            xytext=(x0 + 0.38, y0),
            arrowprops={"arrowstyle": "->", "color": "#555"},
        )
        if label:  # beside the arrow, on its left, clear of the line
            ax.text(
                (x0 + x1) / 2 - 0.08,
                (y0 + y1) / 2 + (0.06 if y1 > 0 else -0.14),
                label,
                ha="right",
                fontsize=8,
                color="#555",
            )
    for name, (x, y) in LAYOUT.items():
        if statuses is None:
            status, color = (labels or {}).get(name, ""), DEFINED_COLOR
        else:
            status = statuses.get(name, "Not run")
            color = STATUS_COLORS.get(status, "#6a1b9a")
        ax.add_patch(
            FancyBboxPatch(
                (x - 0.38, y - 0.22),
                0.76,
                0.44,
                boxstyle="round,pad=0.02",
                fc=color,
                ec="black",
                alpha=0.9,
            )
        )
        ax.text(
            x,
            y + 0.06,
            name,
            ha="center",
            va="center",
            color="white",
            fontsize=9,
            fontweight="bold",
        )
        ax.text(x, y - 0.1, status, ha="center", va="center", color="white", fontsize=8)
    ax.set_xlim(-0.5, 4.5)
    ax.set_ylim(-1.0, 1.0)
    ax.axis("off")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def _metrics(report: dict) -> dict:
    return report["binary_classification_metrics"]


def roc_curve(report: dict) -> Figure:
    curve = _metrics(report)["receiver_operating_characteristic_curve"]
    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.subplots()
    ax.plot(
        curve["false_positive_rates"],
        curve["true_positive_rates"],
        label=f"AUC = {_metrics(report)['auc']['value']:.3f}",
    )
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curve (test split)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def confusion_matrix(report: dict) -> Figure:
    cm = _metrics(report)["confusion_matrix"]
    grid = [[cm["0"]["0"], cm["0"]["1"]], [cm["1"]["0"], cm["1"]["1"]]]
    fig = Figure(figsize=(4, 3.6))
    ax = fig.subplots()
    ax.imshow(grid, cmap="Blues")
    for i in range(2):
        for j in range(2):
            ax.text(
                j,
                i,
                str(grid[i][j]),
                ha="center",
                va="center",
                fontsize=12,
                color="white" if grid[i][j] > max(map(max, grid)) / 2 else "black",
            )
    ax.set_xticks([0, 1], ["stays", "churns"])
    ax.set_yticks([0, 1], ["stays", "churns"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title("Confusion matrix (test split)")
    fig.tight_layout()
    return fig


def feature_importance(report: dict, top: int = 12) -> Figure:
    items = sorted(report.get("feature_importance", {}).items(), key=lambda kv: kv[1])[-top:]
    fig = Figure(figsize=(6, 0.3 * max(len(items), 3) + 1))
    ax = fig.subplots()
    ax.barh([k for k, _ in items], [v for _, v in items], color="#1565c0")
    ax.set_xlabel("gain")
    ax.set_title(f"Feature importance (top {len(items)})")
    fig.tight_layout()
    return fig


def churn_histogram(probabilities: Sequence[float], bins: int = 20) -> Figure:
    """How a batch scoring's churn probabilities spread: a histogram over [0, 1]."""
    fig = Figure(figsize=(6, 3))
    ax = fig.add_subplot()
    ax.hist(list(probabilities), bins=bins, range=(0, 1), color="#1565c0")
    ax.set_xlabel("churn probability")
    ax.set_ylabel("customers")
    ax.set_title(f"{len(probabilities):,} customers scored")
    fig.tight_layout()
    return fig
