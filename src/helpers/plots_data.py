"""A picture of one tenant's churn data (notebook 01)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from helpers.data import TARGET


def plot_churn_data(df: pd.DataFrame, tenant_id: str):
    """Three panels: churn rate by customer-service calls, day minutes and international plan."""
    churned = df[TARGET] == "True."
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    by_calls = churned.groupby(df["CustServ Calls"]).mean()
    axes[0].bar(by_calls.index.astype(str), by_calls.values, color="tab:red")
    axes[0].set(title="churn rate by customer-service calls", xlabel="calls", ylabel="churn rate")
    bins = 30
    axes[1].hist(df.loc[~churned, "Day Mins"], bins=bins, alpha=0.6, label="stayed", density=True)
    axes[1].hist(df.loc[churned, "Day Mins"], bins=bins, alpha=0.6, label="churned", density=True)
    axes[1].set(title="day minutes", xlabel="minutes", ylabel="density")
    axes[1].legend()
    by_plan = churned.groupby(df["Int'l Plan"]).mean()
    axes[2].bar(by_plan.index.astype(str), by_plan.values, color="tab:purple")
    axes[2].set(title="churn rate by international plan", xlabel="international plan")
    fig.suptitle(f"tenant {tenant_id}: {len(df)} customers, churn rate {churned.mean():.1%}")
    fig.tight_layout()
    return fig
