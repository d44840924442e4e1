"""Notebook 04 after the chain 00 -> 03: the tenant's customers scored by a batch transform job
(default: its generated customers; then its own JSON Lines file), the churn list recorded and
written to its bucket; a file that breaks the rules stops 04 naming the problem."""

from __future__ import annotations

import pandas as pd
import pytest
from papermill.exceptions import PapermillExecutionError

from helpers import deploy
from helpers.chain import CHAIN, run_chain
from helpers.data import TARGET, generate_churn
from helpers.results import read_results
from helpers.session import connect

pytestmark = pytest.mark.slow
TENANT = "nb-batch"


@pytest.fixture(scope="module")
def session(localaws):
    return connect("local")


@pytest.fixture(scope="module")
def deployed(session, tmp_path_factory):
    run_chain(TENANT, tmp_path_factory.mktemp("chain"), CHAIN)
    return deploy.tenant_item(session, TENANT)


def churn_list(session, uri: str) -> pd.DataFrame:
    bucket, key = uri[5:].split("/", 1)
    return pd.read_csv(session.client("s3").get_object(Bucket=bucket, Key=key)["Body"])


def test_04_scores_the_tenants_customers_with_the_deployed_model(
    session, deployed, tmp_path_factory
):
    [notebook] = run_chain(TENANT, tmp_path_factory.mktemp("04"), ("04_batch_score",))
    result = read_results(notebook)["batch"]
    assert result["customers"] == len(generate_churn(TENANT))
    assert result["uri"].startswith(f"s3://{deployed['tenant-bucket']}/batch/")
    assert result["model_name"] == deploy.endpoint_status(session, TENANT)["ModelName"]
    top = [row["churn_probability"] for row in result["top"]]
    assert len(top) == 10 and top == sorted(top, reverse=True)
    written = churn_list(session, result["uri"])
    assert len(written) == result["customers"]
    assert written["churn_probability"].head(10).round(6).tolist() == [round(p, 6) for p in top]


def test_04_with_the_tenants_own_json_lines_and_with_a_bad_file(
    session, deployed, tmp_path_factory
):
    folder = tmp_path_factory.mktemp("own")
    customers = generate_churn(TENANT, rows=50).drop(columns=TARGET)
    own = folder / "customers.jsonl"
    own.write_text(customers.to_json(orient="records", lines=True))
    [notebook] = run_chain(
        TENANT,
        folder / "run",
        ("04_batch_score",),
        extra={"04_batch_score": {"input_path": str(own)}},
    )
    result = read_results(notebook)["batch"]
    assert result["customers"] == 50
    assert set(churn_list(session, result["uri"])["customer"]) == set(customers["Phone"])

    bad = folder / "bad.csv"
    customers.drop(columns="State").to_csv(bad, index=False)
    with pytest.raises(PapermillExecutionError) as failure:
        run_chain(
            TENANT,
            folder / "bad",
            ("04_batch_score",),
            extra={"04_batch_score": {"input_path": str(bad)}},
        )
    assert "missing column(s) ['State']" in failure.value.evalue
