"""A tenant's own data through the notebooks (`-p data_path`): another data shape than the
project's generator trains, registers, deploys and serves raw records; a file that breaks the
data rules stops notebook 01 with the problem named and uploads nothing."""

from __future__ import annotations

import pytest
from data_shapes import AREA_CODES, STATES, other_shape, padded_csv_files
from papermill.exceptions import PapermillExecutionError

from helpers.chain import run_chain
from helpers.naming import RAW_DATA_KEY
from helpers.results import read_results
from helpers.session import connect
from helpers.tenants import get_tenant_item

pytestmark = pytest.mark.slow
CHAIN = ("00_setup", "01_create_tenant", "02_pipeline", "03_deploy")


@pytest.fixture(scope="module")
def session(localaws):
    return connect("local")


def test_other_data_shape_from_files_trains_deploys_and_serves_raw_records(
    session, tmp_path_factory
):
    data = other_shape(3000)
    folder = tmp_path_factory.mktemp("customers")
    for i, body in enumerate(padded_csv_files(data, parts=3)):
        (folder / f"customers-{i}.csv").write_bytes(body)
    runs = run_chain(
        "own-data",
        tmp_path_factory.mktemp("own-data"),
        CHAIN,
        extra={"01_create_tenant": {"data_path": str(folder)}},
    )
    upload, pipeline, deployed = (read_results(runs[i]) for i in (1, 2, 3))
    assert upload["upload"]["rows"] == len(data)
    assert pipeline["execution"]["status"] == "Succeeded"
    assert pipeline["metrics"]["accuracy"] > pipeline["metrics"]["majority_baseline_accuracy"]
    assert deployed["deployment"]["version"] == 1
    probabilities = deployed["predictions"]["probabilities"]
    assert len(probabilities) == 8 and all(0 <= p <= 1 for p in probabilities)
    # The records sent were the tenant's own: its states and area codes, not the generator's.
    records = deployed["predictions"]["records"]
    assert len(records) == 8
    assert {r["State"] for r in records} <= set(STATES)
    assert {int(r["Area Code"]) for r in records} <= set(AREA_CODES)


def test_data_that_breaks_the_rules_stops_notebook_01_and_uploads_nothing(
    session, tmp_path_factory
):
    folder = tmp_path_factory.mktemp("latin1")
    bad = folder / "customers.csv"
    bad.write_bytes(padded_csv_files(other_shape(300), parts=1)[0].replace(b"NY", b"N\xe9"))
    with pytest.raises(PapermillExecutionError) as failure:
        run_chain(
            "bad-data",
            tmp_path_factory.mktemp("bad-data"),
            ("00_setup", "01_create_tenant"),
            extra={"01_create_tenant": {"data_path": str(bad)}},
        )
    assert "UTF-8" in str(failure.value)
    bucket = get_tenant_item(session, "bad-data")["tenant-bucket"]
    listed = session.client("s3").list_objects_v2(Bucket=bucket, Prefix=RAW_DATA_KEY)
    assert listed.get("KeyCount", 0) == 0
