"""What an endpoint's production variants serve, and loading one into an inference handler.

`snapshot_variants` resolves an endpoint config's variants to their models (and a
ModelPackageName to its inference container) at deploy time; `load_variant` fetches the
model artifact (and inference code) from S3 with the model's execution role and builds the
handler (`endpoint_handlers`): an inference script, or the XGBoost built-in algorithm.
"""

from __future__ import annotations

import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localaws.compute.endpoint_handlers import (
    CSV,
    DownloadError,
    LoadError,
    ScriptHandler,
    XGBoostAlgorithm,
)


@dataclass(frozen=True)
class Variant:
    """What one production variant serves, snapshotted when the endpoint (re)deploys, so it
    keeps serving if its Model or EndpointConfig record is deleted later (as on AWS)."""

    name: str
    weight: float
    model_name: str
    model_key: str  # model ARN + creation time: a re-created model of the same name reloads
    role_arn: str
    image: str
    model_data_url: str | None  # for a multi-model variant: the S3 prefix of its models
    environment: dict[str, str] = field(default_factory=dict)
    multi_model: bool = False  # PrimaryContainer Mode MultiModel: models chosen by TargetModel
    cache_models: bool = True  # MultiModelConfig.ModelCacheSetting (Enabled by default)


def _family(image: str) -> str:
    """The local stand-in for `image` (localaws.compute.images), or LoadError naming the problem."""
    from localaws.compute.images import UnsupportedImage, resolve

    try:
        return resolve(image).family
    except UnsupportedImage as exc:
        raise LoadError(str(exc)) from None


def _container_of(backend, model) -> dict:
    """The model's container, resolving a ModelPackageName to the package's inference container."""
    container = model.primary_container or (model.containers[0] if model.containers else None)
    if model.containers and len(model.containers) > 1:
        raise LoadError("multi-container (inference pipeline) models are not supported by localaws")
    if not container:
        raise LoadError(f"model {model.model_name} has no PrimaryContainer")
    if package_name := container.get("ModelPackageName"):
        package = backend.describe_model_package(package_name)
        containers = (package.inference_specification or {}).get("Containers") or []
        if not containers:
            raise LoadError(f"model package {package_name} has no inference container")
        merged = dict(containers[0])
        merged["Environment"] = {
            **merged.get("Environment", {}),
            **container.get("Environment", {}),
        }
        return merged
    return container


def model_variant(backend, model, name: str = "AllTraffic", weight: float = 1.0) -> Variant:
    """What `model` (moto's Model record) serves, resolved now (LoadError if it cannot be)."""
    container = _container_of(backend, model)
    return Variant(
        name=name,
        weight=weight,
        model_name=model.model_name,
        model_key=f"{model.arn}@{model.creation_time}",
        role_arn=model.execution_role_arn,
        image=container.get("Image", ""),
        model_data_url=container.get("ModelDataUrl"),
        environment=dict(container.get("Environment") or {}),
        multi_model=container.get("Mode") == "MultiModel",
        cache_models=(container.get("MultiModelConfig") or {}).get("ModelCacheSetting")
        != "Disabled",
    )


def snapshot_variants(backend, config_name: str) -> list[Variant]:
    """The variants of endpoint config `config_name`, with their models resolved now."""
    config = backend.endpoint_configs[config_name]
    variants = []
    for pv in config.production_variants:
        model = backend._models.get(pv["ModelName"])
        if model is None:
            raise LoadError(
                f"model {pv['ModelName']} of variant {pv['VariantName']} does not exist"
            )
        weight = float(pv.get("InitialVariantWeight", 1.0) or 1.0)
        variants.append(model_variant(backend, model, pv["VariantName"], weight))
    return variants


def _s3_client(role_arn: str, region: str):
    from localaws.compute.s3io import client
    from localaws.core.credentials import role_credentials

    try:
        creds = role_credentials(role_arn, "SageMaker")
    except Exception as exc:
        raise LoadError(f"could not assume the model's execution role {role_arn}: {exc}") from exc
    return client("s3", creds, region)


def _fetch_tar(s3, url: str, dest: Path, role_arn: str) -> None:
    """Download s3://bucket/key.tar.gz with the role's credentials and unpack it into `dest`."""
    from botocore.exceptions import ClientError

    from localaws.compute import s3io

    if not url.startswith("s3://") or "/" not in url[5:]:
        raise LoadError(f"{url!r} is not an s3://bucket/key URL")
    bucket, key = url[5:].split("/", 1)
    archive = dest.parent / f"{dest.name}.tar.gz"
    try:
        # GetObject (not download_file's HEAD) so the error names its code, e.g. AccessDenied.
        s3io.fetch(s3, bucket, key, str(archive))
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        raise DownloadError(
            f"could not download {url} with role {role_arn}: {code} "
            f"{error.get('Message', '')}".rstrip()
        ) from exc
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise LoadError(f"{url} is not a valid .tar.gz archive: {exc}") from exc
    finally:
        archive.unlink(missing_ok=True)


def load_into(variant: Variant, region: str, workdir: Path) -> Any:
    """load_variant, removing `workdir` if it fails; any failure is a LoadError."""
    try:
        return load_variant(variant, region, workdir)
    except LoadError:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    except Exception as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        raise LoadError(f"{type(exc).__name__}: {exc}") from exc


def load_variant(variant: Variant, region: str, workdir: Path, s3: Any = None) -> Any:
    """Fetch a variant's artifact (and code) into `workdir` and build its inference handler.

    `s3`: a client signed with the model's role (a transform job's process has one); by
    default the server assumes the role itself.
    """
    xgb = _family(variant.image) == "xgboost"
    model_dir = workdir / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    if variant.model_data_url:
        s3 = s3 or _s3_client(variant.role_arn, region)
        _fetch_tar(s3, variant.model_data_url, model_dir, variant.role_arn)
    env = variant.environment
    if program := env.get("SAGEMAKER_PROGRAM"):
        submit = env.get("SAGEMAKER_SUBMIT_DIRECTORY", "/opt/ml/model/code")
        if submit.startswith("s3://"):
            s3 = s3 or _s3_client(variant.role_arn, region)
            code_dir = workdir / "code"
            _fetch_tar(s3, submit, code_dir, variant.role_arn)
        elif submit.rstrip("/").startswith("/opt/ml/model"):
            code_dir = model_dir / submit.rstrip("/")[len("/opt/ml/model") :].lstrip("/")
        else:
            raise LoadError(
                f"SAGEMAKER_SUBMIT_DIRECTORY {submit!r} must be an s3:// tar.gz "
                "or a folder under /opt/ml/model"
            )
        if not (code_dir / program).is_file() and (model_dir / program).is_file():
            code_dir = model_dir
        accept = env.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", CSV if xgb else "application/json")
        return ScriptHandler(model_dir, code_dir, program, xgb, accept)
    if xgb:
        return XGBoostAlgorithm(model_dir)
    raise LoadError(
        f"image {variant.image!r} is not served by localaws: set SAGEMAKER_PROGRAM "
        "to serve an inference script, or use the XGBoost algorithm image"
    )
