"""SageMaker endpoints hosted in the localaws process: real models answering InvokeEndpoint.

No process per endpoint: an endpoint is a record (moto's FakeEndpoint) plus a snapshot of what
each production variant serves; models are loaded on demand into a process-wide LRU cache of
`LOCALAWS_MAX_LOADED_MODELS` (default 200) and evicted least-recently-used first. Creating and
updating load the new models in a background thread before the endpoint serves them, so an
update swaps with no failed request and a model that cannot load leaves the endpoint Failed
(create) or on its previous config (update), with a FailureReason. After a restart, endpoints
reload their models lazily on the first invocation. Multi-model variants load nothing at
deploy: their target models load per invocation (`localaws.compute.multi_model`).
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moto.core.utils import utcnow

from localaws.compute.endpoint_handlers import InvocationError, LoadError
from localaws.compute.endpoint_models import Variant, load_into, snapshot_variants
from localaws.compute.logs import endpoint_log
from localaws.compute.multi_model import ModelPool, check_request

IN_SERVICE, CREATING, UPDATING, FAILED = "InService", "Creating", "Updating", "Failed"
DELETING = "Deleting"


def transition_seconds() -> float:
    """How long an endpoint stays Creating / Updating / Deleting at least, as on AWS (where it
    is minutes): `LOCALAWS_ENDPOINT_DELAY_S`, default 0 (as soon as its models are loaded)."""
    try:
        return max(0.0, float(os.environ.get("LOCALAWS_ENDPOINT_DELAY_S", "0")))
    except ValueError:
        return 0.0


@dataclass
class _Loaded:
    handler: Any
    workdir: Path


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
        self._deleting: dict[tuple[str, str, str], threading.Timer] = {}
        # multi-model variants' loaded targets, per (account, region, endpoint, model_key)
        self._pools: dict[tuple[str, str, str, str], ModelPool] = {}
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

                client("s3", admin_credentials(), region).made()
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
            handler = load_into(variant, region, workdir)
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
        done_at = time.monotonic() + transition_seconds()
        try:
            config_variants = list(backend.endpoint_configs[config_name].production_variants)
            variants = snapshot_variants(backend, config_name)
            for variant in (v for v in variants if not v.multi_model):
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
        time.sleep(max(0.0, done_at - time.monotonic()))
        key = (backend.account_id, backend.region_name, endpoint.endpoint_name)
        with self._lock:
            if (
                backend.endpoints.get(endpoint.endpoint_name) is not endpoint
                or endpoint.endpoint_status == DELETING
            ):
                self._jobs.pop(key, None)
                return  # deleted meanwhile
            if error is None:
                self._serving[key] = (endpoint, variants)
                self._close_pools(key, keep={v.model_key for v in variants})
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
        hooks.changed("sagemaker", endpoint)

    def resume(self, backend, endpoint) -> None:
        """Restart a create/update that a previous server process left unfinished."""
        job_key = (backend.account_id, backend.region_name, endpoint.endpoint_name)
        if job_key in self._jobs:
            return
        if endpoint.endpoint_status == DELETING and job_key not in self._deleting:
            backend.endpoints.pop(endpoint.endpoint_name, None)  # cut off by a restart: gone
        elif endpoint.endpoint_status == CREATING:
            self.deploy(backend, endpoint, endpoint.endpoint_config_name)
        elif endpoint.endpoint_status == UPDATING:  # target config unknown: keep the current one
            endpoint.endpoint_status = IN_SERVICE
            endpoint.failure_reason = "Update interrupted by a localaws restart; not applied."

    def delete_later(self, backend, endpoint, remove: Callable[[], None]) -> None:
        """Leave `endpoint` Deleting for transition_seconds(), then `remove` it."""
        from localaws.core import hooks

        key = (backend.account_id, backend.region_name, endpoint.endpoint_name)
        endpoint.endpoint_status = DELETING
        endpoint.last_modified_time = utcnow()
        self.forget(backend, endpoint.endpoint_name)

        def finish() -> None:
            with self._lock:
                self._deleting.pop(key, None)
                if backend.endpoints.get(endpoint.endpoint_name) is endpoint:
                    remove()
            hooks.changed("sagemaker", endpoint)

        timer = threading.Timer(transition_seconds(), finish)
        timer.daemon = True
        self._deleting[key] = timer
        timer.start()

    def forget(self, backend, endpoint_name: str) -> None:
        """Stop serving a deleted endpoint (its models leave the cache in LRU order)."""
        key = (backend.account_id, backend.region_name, endpoint_name)
        self._serving.pop(key, None)
        self._close_pools(key, keep=set())

    def _close_pools(self, key: tuple[str, str, str], keep: set[str]) -> None:
        for pool_key in [k for k in self._pools if k[:3] == key and k[3] not in keep]:
            self._pools.pop(pool_key).close()

    def _model_pool(self, key: tuple[str, str, str], variant: Variant) -> ModelPool:
        pool_key = (*key, variant.model_key)
        with self._lock:
            if (pool := self._pools.get(pool_key)) is None:
                region, name = key[1], key[2]

                def log(message: str) -> None:
                    endpoint_log(region, name, variant.name, message)

                pool = self._pools[pool_key] = ModelPool(variant, self._root, log)
            return pool

    def loaded_targets(self, backend, endpoint_name: str) -> list[str]:
        """The target models loaded for `endpoint_name`, least recently used first."""
        key = (backend.account_id, backend.region_name, endpoint_name)
        return [t for k, pool in list(self._pools.items()) if k[:3] == key for t in pool.loaded()]

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
        target_model: str | None = None,
    ) -> tuple[bytes, str, str]:
        """Answer one invocation: (body, content type, variant name). Raises InvocationError,
        or multi_model.RequestError for a request the API refuses (e.g. a bad TargetModel)."""
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
        check_request(chosen, endpoint.endpoint_name, target_model)
        try:
            if chosen.multi_model and target_model:
                pool = self._model_pool(key, chosen)
                handler = pool.handler(target_model, backend.account_id, backend.region_name)
            else:
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
