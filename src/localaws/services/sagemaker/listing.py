"""ListModels as AWS answers it: moto 5.2.5 ignores every filter and returns full records.

NameContains, CreationTimeBefore/After, SortBy (Name | CreationTime), SortOrder, and
MaxResults/NextToken paging; each entry is a ModelSummary (ModelName, ModelArn, CreationTime).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.responses import SageMakerResponse

from localaws.core.patching import Patches

patches = Patches("sagemaker.listing")
_DEFAULT_MAX = 10  # AWS's default page size for ListModels


def _timestamp(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=None)


def _naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


@patches.replace(SageMakerResponse, "list_models")
def list_models(self) -> Any:
    """The ListModels action (replaces moto's)."""
    name_contains = self._get_param("NameContains")
    before = _timestamp(self._get_param("CreationTimeBefore"))
    after = _timestamp(self._get_param("CreationTimeAfter"))
    sort_by = self._get_param("SortBy") or "CreationTime"
    descending = (self._get_param("SortOrder") or "Descending") == "Descending"
    max_results = int(self._get_param("MaxResults") or _DEFAULT_MAX)
    if not 1 <= max_results <= 100:
        raise ValidationError(f"MaxResults must be between 1 and 100, got {max_results}")
    if sort_by not in ("Name", "CreationTime"):
        raise ValidationError(f"SortBy must be Name or CreationTime, got {sort_by}")

    # A copy taken in one C call: moto hands out its live dict view, and a DeleteModel on
    # another thread during this scan raised "dictionary changed size" (a 500 under load).
    models = [
        m
        for m in list(self.sagemaker_backend.list_models())
        if (not name_contains or name_contains in m.model_name)
        and (before is None or _naive(m.creation_time) < before)
        and (after is None or _naive(m.creation_time) > after)
    ]
    key = (lambda m: m.model_name) if sort_by == "Name" else (lambda m: m.creation_time)
    models.sort(key=key, reverse=descending)
    start = int(self._get_param("NextToken") or 0)
    page = models[start : start + max_results]
    result: dict[str, Any] = {
        "Models": [
            {"ModelName": m.model_name, "ModelArn": m.arn, "CreationTime": m.creation_time}
            for m in page
        ]
    }
    if start + max_results < len(models):
        result["NextToken"] = str(start + max_results)
    return ActionResult(result)
