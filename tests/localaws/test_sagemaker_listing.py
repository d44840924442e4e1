"""ListModels (`services.sagemaker.listing`) while other requests change the models."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from races import changing

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
