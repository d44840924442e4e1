"""Notebook parameters: each rule, one line naming the bad parameter, and `make demo`'s check."""

from __future__ import annotations

import pytest

from helpers import chain
from helpers.parameters import InvalidParameter, check_parameters

GOOD = {
    "tenant_id": "acme",
    "backend": "local",
    "region": "eu-west-1",
    "table_name": "allTenants",
    "approve_latest": True,
    "delete_stack": False,
    "model_package_arn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/mt-acme/3",
    "accuracy_threshold": 0.8,
    "data_path": "customers.csv",
}


def test_good_parameters_pass_unchanged():
    assert check_parameters(**GOOD) == GOOD
    assert check_parameters(model_package_arn=None, data_path=["a.csv", "b.csv"])


@pytest.mark.parametrize(
    "name, value, says",
    [
        ("tenant_id", "Bad", "tenant_id: invalid tenant id 'Bad': may contain only lowercase"),
        ("tenant_id", "", "tenant_id: invalid tenant id '': must be 3-24 characters"),
        ("tenant_id", 7, "tenant_id: invalid tenant id 7: must be a string"),
        ("backend", "gcp", "backend: must be one of ['local', 'aws'], got 'gcp'"),
        ("region", "mars", "region: must be an AWS region"),
        ("table_name", "t", "table_name: must be 3-255 characters"),
        ("approve_latest", "yes", "approve_latest: must be True or False, got 'yes'"),
        ("delete_stack", 1, "delete_stack: must be True or False, got 1"),
        ("model_package_arn", "1", "model_package_arn: must be None or a model package version"),
        ("accuracy_threshold", 1.5, "accuracy_threshold: must be a number in (0, 1], got 1.5"),
        ("accuracy_threshold", True, "accuracy_threshold: must be a number in (0, 1]"),
        ("data_path", "  ", "data_path: must be None, a path, or a list of paths"),
        ("data_path", [], "data_path: must be None, a path, or a list of paths"),
        ("shoe_size", 42, "shoe_size: no rule for this parameter"),
    ],
)
def test_a_bad_parameter_is_named_in_one_line(name, value, says):
    with pytest.raises(InvalidParameter) as failure:
        check_parameters(**{**GOOD, name: value})
    assert str(failure.value).startswith(says)
    assert "\n" not in str(failure.value)


def test_demo_with_a_bad_tenant_prints_one_line_and_exits_non_zero(capsys, tmp_path):
    assert chain.main(["--tenant", "Bad", "--out", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "make demo: invalid tenant id 'Bad': may contain only lowercase letters, digits and "
        "hyphens; found 'B'"
    ]
    assert not any(tmp_path.iterdir())  # no notebook ran
