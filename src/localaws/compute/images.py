"""Container image URI -> the local runtime that stands in for it.

localaws runs no containers. A job's image only selects which *contract* the job follows; the
code then runs in localaws's own Python environment (the versions installed there, not the
image tag's):

| ECR repository (`<acct>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>`) | runs as             |
|------------------------------------------------------------------|-------------------------|
| `sagemaker-scikit-learn` (e.g. `:1.2-1-cpu-py3`)                 | Python script           |
| `sagemaker-xgboost` (e.g. `:1.7-1`)                              | Python script, or the   |
|                                                                  | built-in XGBoost        |
|                                                                  | algorithm (no script)   |
| `xgboost` (legacy `:1`, `:latest`)                               | built-in XGBoost        |

Framework versions come from this environment (see `pip list`), not from the image tag; the
URIs are those that `sagemaker.core.image_uris.retrieve("sklearn"|"xgboost", ...)` returns.

Anything else (PyTorch, TensorFlow, Hugging Face, custom ECR images, ...) is refused: the job
fails with a FailureReason that names the image and the supported families.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repo>[a-z0-9._/-]+)(?::(?P<tag>[A-Za-z0-9._-]+)|@sha256:[0-9a-f]+)?$"
)

#: ECR repository name -> framework family understood locally.
FAMILIES = {
    "sagemaker-scikit-learn": "sklearn",
    "sagemaker-xgboost": "xgboost",
    "xgboost": "xgboost",
}


class UnsupportedImage(ValueError):
    """The image names a container family localaws cannot stand in for."""


@dataclass(frozen=True)
class Image:
    uri: str
    repository: str
    tag: str
    family: str  # "sklearn" | "xgboost"

    @property
    def has_builtin_algorithm(self) -> bool:
        """True when the image, run without a script, is SageMaker's built-in algorithm."""
        return self.family == "xgboost"


def resolve(uri: str) -> Image:
    """Map an image URI to its local family, or raise UnsupportedImage naming the problem."""
    match = _URI.match(uri or "")
    if not match:
        raise UnsupportedImage(
            f"Image '{uri}' is not a SageMaker ECR image URI; localaws supports "
            f"{', '.join(sorted(FAMILIES))} images (as sagemaker image_uris.retrieve builds them)"
        )
    repo = match["repo"]
    if repo not in FAMILIES:
        raise UnsupportedImage(
            f"Image '{uri}' (repository '{repo}') is not supported by localaws; supported "
            f"repositories: {', '.join(sorted(FAMILIES))}"
        )
    return Image(uri=uri, repository=repo, tag=match["tag"] or "latest", family=FAMILIES[repo])
