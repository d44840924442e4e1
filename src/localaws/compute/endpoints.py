"""SageMaker endpoints hosted in the localaws process: real models answering InvokeEndpoint.

No process per endpoint: an endpoint is a record (moto's FakeEndpoint) plus a snapshot of what
each production variant serves; models are loaded on demand into a process-wide LRU cache of
`LOCALAWS_MAX_LOADED_MODELS` (default 200) and evicted least-recently-used first. Creating and
updating load the new models in a background thread before the endpoint serves them, so an
update swaps with no failed request and a model that cannot load leaves the endpoint Failed
(create) or on its previous config (update), with a FailureReason. After a restart, endpoints
reload their models lazily on the first invocation.
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import sys
import tarfile
import tempfile
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.core.utils import utcnow

from localaws.compute.endpoint_handlers import (
    CSV,
    InvocationError,
    LoadError,
    ScriptHandler,
    XGBoostAlgorithm,
)

IN_SERVICE, CREATING, UPDATING, FAILED = "InService", "Creating", "Updating", "Failed"


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
    model_data_url: str | None
    environment: dict[str, str] = field(default_factory=dict)


@dataclass
class _Loaded:
    handler: Any
    workdir: Path


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
        container = _container_of(backend, model)
        variants.append(
            Variant(
                name=pv["VariantName"],
                weight=float(pv.get("InitialVariantWeight", 1.0) or 1.0),
                model_name=model.model_name,
                model_key=f"{model.arn}@{model.creation_time}",
                role_arn=model.execution_role_arn,
                image=container.get("Image", ""),
                model_data_url=container.get("ModelDataUrl"),
                environment=dict(container.get("Environment") or {}),
            )
        )
    return variants


def _s3_client(role_arn: str, region: str):
    from localaws.compute.s3io import client
    from localaws.core.credentials import role_credentials

    try:
        creds = role_credentials(role_arn, "SageMaker")
    except Exception as exc:
        raise LoadError(f"could not assume the model's execution role {role_arn}: {exc}") from exc
    return client("s3", creds, region)


_log_streams: set[tuple[str, str, str]] = set()


def endpoint_log(region: str, endpoint_name: str, variant: str, *messages: str) -> None:
    """Write to the endpoint's CloudWatch Logs group as SageMaker does
    (`/aws/sagemaker/Endpoints/{name}`, stream `{variant}/localaws`). Never raises."""
    from localaws.compute.s3io import client
    from localaws.core.credentials import admin_credentials

    group, stream = f"/aws/sagemaker/Endpoints/{endpoint_name}", f"{variant}/localaws"
    try:
        logs = client("logs", admin_credentials(), region)
        if (region, group, stream) not in _log_streams:
            for create, kwargs in (
                (logs.create_log_group, {"logGroupName": group}),
                (logs.create_log_stream, {"logGroupName": group, "logStreamName": stream}),
            ):
                try:
                    create(**kwargs)
                except logs.exceptions.ResourceAlreadyExistsException:
                    pass
            _log_streams.add((region, group, stream))
        now = int(time.time() * 1000)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": now, "message": m} for m in messages],
        )
    except Exception:  # logging must never fail a deployment or a request
        _log_streams.discard((region, group, stream))


def _fetch_tar(s3, url: str, dest: Path, role_arn: str) -> None:
    """Download s3://bucket/key.tar.gz with the role's credentials and unpack it into `dest`."""
    from botocore.exceptions import ClientError

    if not url.startswith("s3://") or "/" not in url[5:]:
        raise LoadError(f"{url!r} is not an s3://bucket/key URL")
    bucket, key = url[5:].split("/", 1)
    archive = dest.parent / f"{dest.name}.tar.gz"
    try:
        # GetObject (not download_file's HEAD) so the error names its code, e.g. AccessDenied.
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        with open(archive, "wb") as out:
            shutil.copyfileobj(body, out, 1 << 20)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        raise LoadError(
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


def load_variant(variant: Variant, region: str, workdir: Path) -> Any:
    """Fetch a variant's artifact (and code) into `workdir` and build its inference handler."""
    xgb = _family(variant.image) == "xgboost"
    model_dir = workdir / "model"
    model_dir.mkdir(parents=True)
    s3 = None
    if variant.model_data_url:
        s3 = _s3_client(variant.role_arn, region)
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


class EndpointHost:
    """Loads and serves the models of every endpoint of this process."""

    def __init__(self, max_loaded: int | None = None):
        self.max_loaded = max_loaded or int(os.environ.get("LOCALAWS_MAX_LOADED_MODELS", "200"))
        self._root = Path(tempfile.mkdtemp(prefix="localaws-endpoints-"))
        atexit.register(shutil.rmtree, self._root, True)
        self._cache: OrderedDict[str, _Loaded] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._jobs: dict[tuple[str, str, str], Future] = {}
        # What each endpoint serves now. Kept here, not on moto's record, whose every attribute
        # would show in DescribeEndpoint; after a restart it is rebuilt from the records.
        self._serving: dict[tuple[str, str, str], tuple[Any, list[Variant]]] = {}
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="localaws-endpoint")
        self._warm = False

    def warm_up(self, region: str) -> None:
        """Import the serving stack and load the S3 client model once, in the background, so
        the first endpoint does not pay for it (called when models are registered/created)."""
        with self._lock:
            if self._warm:
                return
            self._warm = True

        def warm() -> None:
            try:
                import xgboost  # noqa: F401

                from localaws.compute.s3io import client
                from localaws.core.credentials import admin_credentials

                client("s3", admin_credentials(), region)
            except Exception:  # only an optimisation
                pass

        self._pool.submit(warm)

    # --- model cache ------------------------------------------------------------------------
    def handler(self, variant: Variant, region: str, endpoint_name: str = "") -> Any:
        """The loaded handler of `variant` (loading it now if it is not in the cache)."""
        key = variant.model_key
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key].handler
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # one load per model, however many requests wait for it
            with self._lock:
                if key in self._cache:
                    return self._cache[key].handler
            workdir = Path(tempfile.mkdtemp(prefix=f"{variant.model_name[:40]}-", dir=self._root))
            started = time.monotonic()
            try:
                handler = load_variant(variant, region, workdir)
            except LoadError:
                shutil.rmtree(workdir, ignore_errors=True)
                raise
            except Exception as exc:
                shutil.rmtree(workdir, ignore_errors=True)
                raise LoadError(f"{type(exc).__name__}: {exc}") from exc
            with self._lock:
                self._cache[key] = _Loaded(handler, workdir)
                while len(self._cache) > self.max_loaded:
                    _, evicted = self._cache.popitem(last=False)
                    shutil.rmtree(evicted.workdir, ignore_errors=True)
                self._key_locks.pop(key, None)
            if endpoint_name:
                endpoint_log(
                    region,
                    endpoint_name,
                    variant.name,
                    f"model {variant.model_name} ({variant.model_data_url}) loaded in "
                    f"{time.monotonic() - started:.2f}s",
                )
            return handler

    def loaded_count(self) -> int:
        return len(self._cache)

    # --- lifecycle --------------------------------------------------------------------------
    def deploy(self, backend, endpoint, config_name: str) -> None:
        """Load `config_name`'s models in the background, then serve them (create or update)."""
        job_key = (backend.account_id, backend.region_name, endpoint.endpoint_name)
        self._jobs[job_key] = self._pool.submit(self._deploy, backend, endpoint, config_name)

    def _deploy(self, backend, endpoint, config_name: str) -> None:
        from localaws.core import hooks

        creating = endpoint.endpoint_status == CREATING
        try:
            config_variants = list(backend.endpoint_configs[config_name].production_variants)
            variants = snapshot_variants(backend, config_name)
            for variant in variants:
                try:
                    self.handler(variant, backend.region_name, endpoint.endpoint_name)
                except LoadError as exc:
                    endpoint_log(
                        backend.region_name,
                        endpoint.endpoint_name,
                        variant.name,
                        f"model {variant.model_name} failed to load: {exc}",
                    )
                    raise LoadError(
                        f"production variant {variant.name} (model "
                        f"{variant.model_name}) failed to load: {exc}"
                    ) from exc
            error = None
        except LoadError as exc:
            error = str(exc)
        except Exception as exc:  # a record vanished mid-way, or a bug: never leave it Creating
            error = f"{type(exc).__name__}: {exc}"
        key = (backend.account_id, backend.region_name, endpoint.endpoint_name)
        with self._lock:
            if backend.endpoints.get(endpoint.endpoint_name) is not endpoint:
                self._jobs.pop(key, None)
                return  # deleted meanwhile
            if error is None:
                self._serving[key] = (endpoint, variants)
                endpoint.endpoint_config_name = config_name
                endpoint.production_variants = endpoint._process_production_variants(
                    config_variants
                )
                endpoint.endpoint_status, endpoint.failure_reason = IN_SERVICE, None
            elif creating:
                endpoint.endpoint_status, endpoint.failure_reason = FAILED, error
            else:  # a failed update rolls back: the previous config keeps serving
                endpoint.endpoint_status = IN_SERVICE
                endpoint.failure_reason = (
                    f"Update to {config_name} failed and was rolled back: {error}"
                )
            endpoint.last_modified_time = utcnow()
            self._jobs.pop(key, None)
        hooks.changed("sagemaker")

    def resume(self, backend, endpoint) -> None:
        """Restart a create/update that a previous server process left unfinished."""
        job_key = (backend.account_id, backend.region_name, endpoint.endpoint_name)
        if job_key in self._jobs:
            return
        if endpoint.endpoint_status == CREATING:
            self.deploy(backend, endpoint, endpoint.endpoint_config_name)
        elif endpoint.endpoint_status == UPDATING:  # target config unknown: keep the current one
            endpoint.endpoint_status = IN_SERVICE
            endpoint.failure_reason = "Update interrupted by a localaws restart; not applied."

    def forget(self, backend, endpoint_name: str) -> None:
        """Stop serving a deleted endpoint (its models leave the cache in LRU order)."""
        self._serving.pop((backend.account_id, backend.region_name, endpoint_name), None)

    def wait(self, backend, endpoint_name: str, timeout: float | None = None) -> None:
        """Block until a create/update in flight for `endpoint_name` has finished (for tests)."""
        job = self._jobs.get((backend.account_id, backend.region_name, endpoint_name))
        if job is not None:
            job.result(timeout)

    # --- serving ----------------------------------------------------------------------------
    def invoke(
        self,
        backend,
        endpoint,
        body: bytes,
        content_type: str,
        accept: str,
        target_variant: str | None = None,
    ) -> tuple[bytes, str, str]:
        """Answer one invocation: (body, content type, variant name). Raises InvocationError."""
        key = (backend.account_id, backend.region_name, endpoint.endpoint_name)
        owner, variants = self._serving.get(key, (None, None))
        if owner is not endpoint:  # e.g. after a restart: rebuild from the records
            try:
                variants = snapshot_variants(backend, endpoint.endpoint_config_name)
            except (LoadError, KeyError) as exc:
                raise InvocationError(500, f"endpoint cannot serve: {exc}") from None
            self._serving[key] = (endpoint, variants)
        if target_variant:
            chosen = next((v for v in variants if v.name == target_variant), None)
            if chosen is None:
                raise InvocationError(400, f"target variant {target_variant!r} does not exist")
        else:
            chosen = random.choices(variants, weights=[v.weight for v in variants])[0]
        try:
            handler = self.handler(chosen, backend.region_name, endpoint.endpoint_name)
        except LoadError as exc:
            raise InvocationError(500, f"model failed to load: {exc}") from None
        if xgb := sys.modules.get("xgboost"):
            # Many small requests share two cores: XGBoost's default (all cores, OpenMP) costs
            # milliseconds of thread start-up per request. The setting is thread-local.
            xgb.set_config(nthread=1)
        try:
            answer, answer_type = handler.invoke(body, content_type, accept)
        except Exception as exc:
            if not isinstance(exc, InvocationError):  # a fault of the handler itself
                exc = InvocationError(500, f"{type(exc).__name__}: {exc}")
            endpoint_log(
                backend.region_name,
                endpoint.endpoint_name,
                chosen.name,
                f"invocation failed ({exc.status}): {exc.message}",
            )
            raise exc from None
        return answer, answer_type, chosen.name


_host: EndpointHost | None = None
_host_lock = threading.Lock()


def host() -> EndpointHost:
    """The process-wide endpoint host."""
    global _host
    with _host_lock:
        if _host is None:
            _host = EndpointHost()
        return _host
