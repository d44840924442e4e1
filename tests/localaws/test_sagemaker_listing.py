"""ListModels (`services.sagemaker.listing`) while other requests change the models."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from races import changing

from localaws.persistence.tracking import TrackedDict
from localaws.services.sagemaker import listing


def test_list_models_while_another_thread_deletes_models_does_not_fail():
    """Requests run in threads: a DeleteModel during a ListModels scan got "dictionary changed
    size during iteration" from moto's live view of its models (a 500 when 1,000 tenants were
    deleted four at a time)."""
    now = datetime(2026, 1, 1)
    models = {
        f"m{i:04d}": SimpleNamespace(model_name=f"m{i:04d}", arn=f"arn:m{i}", creation_time=now)
        for i in range(10000)
    }
    request = SimpleNamespace(
        _get_param=lambda name: {"NameContains": "m0", "MaxResults": "100"}.get(name),
        sagemaker_backend=SimpleNamespace(list_models=models.values),
    )
    with changing(
        models, lambda i: SimpleNamespace(model_name=f"n{i}", arn="", creation_time=now)
    ) as wait_for_change:
        for _ in range(300):
            wait_for_change()
            page = listing.list_models(request).result
            assert len(page["Models"]) == 100 and page["NextToken"] == "100"


def test_moto_scans_of_a_tracked_collection_outside_a_write_do_not_fail():
    """ListModelPackages is a read: moto's `filter(lambda ..., model_packages.values())` ran
    Python code per package over the live dict, and another tenant's DeleteModelPackage on
    another thread raised "dictionary changed size" (a 500 when 1,000 tenants were deleted
    four at a time). Tracked views are read through a copy outside writes too."""
    from moto.sagemaker.models import SageMakerModelBackend

    now = datetime(2026, 1, 1)

    def package(name: str, group: str) -> SimpleNamespace:
        return SimpleNamespace(
            model_package_name=group,
            model_package_group_name=group,
            model_package_version=1,
            model_approval_status="Approved",
            creation_time=now,
            name=name,
        )

    packages = TrackedDict({f"p{i:04d}": package(f"p{i:04d}", f"g{i % 100}") for i in range(10000)})
    backend = SimpleNamespace(model_packages=packages, _get_versioned_or_not=lambda t, v: True)
    with changing(packages, lambda i: package(f"n{i}", "other")) as wait_for_change:
        for _ in range(300):
            wait_for_change()
            found, _ = SageMakerModelBackend.list_model_packages(  # (page, next token)
                backend, None, None, None, None, "g7", None, None, None
            )
            assert len(found) == 100
