"""Inference inside localaws endpoints, following SageMaker's serving contracts in-process.

Two kinds of model, as SageMaker's containers serve them:
- script mode (`SAGEMAKER_PROGRAM` set): the user's module may define `model_fn`, `input_fn`,
  `predict_fn`, `output_fn` or `transform_fn`; missing ones fall back to the framework
  defaults (sagemaker-inference's decoder/encoder; XGBoost's model loading for XGBoost images);
- the XGBoost built-in algorithm (no script): `xgboost-model` in the artifact, CSV or JSON rows
  of features in, scores (probabilities for binary:logistic) out.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import pickle
import sys
import threading
import uuid
from collections import OrderedDict
from pathlib import Path
from types import CodeType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy loads with the first model, not with the server
    import numpy as np

CSV = "text/csv"
JSON = "application/json"
_import_lock = threading.Lock()
_importing: set[str] = set()  # code folders being imported (`_model_path_hook`)
_compiled: OrderedDict[tuple[str, bytes], CodeType] = OrderedDict()
_compiled_lock = threading.Lock()
_COMPILED_MAX = 256


class InvocationError(Exception):
    """An error the model container answers with; `status` is its HTTP status (4xx client fault)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class LoadError(Exception):
    """The model could not be loaded: the endpoint fails with this reason."""


class DownloadError(LoadError):
    """The model artifact could not be downloaded (missing, or the role may not read it)."""


def _media_type(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


# --- XGBoost built-in algorithm ---------------------------------------------------------------


def load_xgboost_model(model_dir: str | Path):
    """Load `xgboost-model` as the built-in container writes it (native format or a pickle)."""
    import xgboost as xgb

    path = Path(model_dir) / "xgboost-model"
    if not path.is_file():
        found = sorted(p.name for p in Path(model_dir).iterdir())
        raise LoadError(f"model artifact has no 'xgboost-model' file (found: {found})")
    booster = xgb.Booster()
    try:
        booster.load_model(str(path))
    except Exception:  # the 0.90/1.0 containers pickled the Booster
        try:
            with open(path, "rb") as handle:
                booster = pickle.load(handle)
        except Exception as exc:
            raise LoadError(f"'xgboost-model' is not an XGBoost model: {exc}") from exc
    return single_threaded(booster)


def single_threaded(model):
    """An XGBoost Booster predicts on one thread (small requests, shared cores)."""
    if type(model).__name__ == "Booster" and hasattr(model, "set_param"):
        model.set_param({"nthread": 1})
    return model


def parse_rows(body: bytes, content_type: str) -> np.ndarray:
    """Rows of numeric features from a CSV or JSON body; InvocationError(400/415) if malformed."""
    media = _media_type(content_type)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvocationError(400, "request body is not UTF-8 text") from None
    if media == CSV:
        lines = [line for line in text.splitlines() if line.strip()]
        try:
            rows = [[float(v) for v in line.split(",")] for line in lines]
        except ValueError as exc:
            raise InvocationError(400, f"CSV body is not numeric: {exc}") from None
    elif media == JSON:
        try:
            data: Any = json.loads(text)
        except ValueError as exc:
            raise InvocationError(400, f"JSON body does not parse: {exc}") from None
        if isinstance(data, dict):
            data = data.get("instances", data.get("features"))
        if isinstance(data, list) and data and isinstance(data[0], dict):
            data = [item.get("features") for item in data]
        if isinstance(data, list) and data and not isinstance(data[0], list):
            data = [data]
        rows = data
    else:
        raise InvocationError(
            415, f"content type {content_type!r} is not supported (use {CSV} or {JSON})"
        )
    if not rows:
        raise InvocationError(400, "request body holds no rows")
    import numpy as np

    try:
        array = np.asarray(rows, dtype=np.float32)
    except (ValueError, TypeError) as exc:
        raise InvocationError(400, f"rows are not numeric or not of one length: {exc}") from None
    if array.ndim != 2:
        raise InvocationError(400, "rows are not all the same length")
    return array


def xgboost_predict(booster, rows: np.ndarray) -> np.ndarray:
    """Score `rows` with a Booster, checking the feature count first (400 on mismatch)."""
    import xgboost as xgb

    expected = booster.num_features()
    if rows.shape[1] != expected:
        raise InvocationError(400, f"each row must have {expected} features, got {rows.shape[1]}")
    if booster.feature_names:
        return booster.predict(xgb.DMatrix(rows, feature_names=booster.feature_names, nthread=1))
    return booster.inplace_predict(rows)


def encode_scores(scores: np.ndarray, accept: str) -> tuple[bytes, str]:
    """Scores as the built-in container answers: one per line (CSV) or {"predictions": [...]}."""
    import numpy as np

    media = _media_type(accept)
    values = np.asarray(scores).tolist()
    if media == JSON:
        if values and isinstance(values[0], list):
            items = [{"score": v} for v in values]
        else:
            items = [{"score": float(v)} for v in values]
        return json.dumps({"predictions": items}).encode(), JSON
    if media == CSV:
        lines = [",".join(map(str, v)) if isinstance(v, list) else str(v) for v in values]
        return ("\n".join(lines) + "\n").encode(), CSV
    raise InvocationError(406, f"accept type {accept!r} is not supported (use {CSV} or {JSON})")


class XGBoostAlgorithm:
    """The XGBoost built-in algorithm's serving."""

    def __init__(self, model_dir: Path):
        self.booster = load_xgboost_model(model_dir)

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        rows = parse_rows(body, content_type)
        accept = accept if _media_type(accept) not in ("", "*/*") else CSV
        return encode_scores(xgboost_predict(self.booster, rows), accept)


# --- script mode ------------------------------------------------------------------------------


class _ModelSourceLoader(importlib.machinery.SourceFileLoader):
    """Loads a model's modules, compiling each source text once per server.

    Every load of a model reads its files from a folder of its own, so Python would compile
    the same script and its sibling modules again each time (the largest part of a model
    load); the code object is kept per file name and content, and given this file's path."""

    def source_to_code(self, data, path, *, _optimize=-1):
        key = (os.path.basename(path), hashlib.sha256(data).digest())
        with _compiled_lock:
            code = _compiled.get(key)
            if code is not None:
                _compiled.move_to_end(key)
        if code is None:
            code = super().source_to_code(data, path, _optimize=_optimize)
            with _compiled_lock:
                _compiled[key] = code
                while len(_compiled) > _COMPILED_MAX:
                    _compiled.popitem(last=False)
        return _relocated(code, path)


def _relocated(code: CodeType, path: str) -> CodeType:
    """`code` (and the functions and classes in it) as compiled from `path`."""
    if code.co_filename == path:
        return code
    consts = tuple(_relocated(c, path) if isinstance(c, CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=path, co_consts=consts)


def _model_path_hook(entry: str):
    """sys.path_hooks entry: the finder of a code folder being imported (ImportError for any
    other path entry, which passes it on to the next hook)."""
    if entry not in _importing:
        raise ImportError("not a model's code folder")
    return importlib.machinery.FileFinder(
        entry, (_ModelSourceLoader, importlib.machinery.SOURCE_SUFFIXES)
    )


def _import_script(code_dir: Path, program: str):
    """The model's script, run as a module of its own with its folder's modules importable.

    Modules of the folder (the script's siblings) are the model's own: dropped from
    sys.modules once the script is loaded, so another model's script (another tenant's,
    another version) never gets this one's copies under the same names, as in SageMaker,
    where each model's container is a process of its own."""
    path = code_dir / program
    if not path.is_file():
        raise LoadError(
            f"inference script {program!r} not found in the model's code "
            f"(looked in {code_dir.name}/)"
        )
    name = f"_localaws_inference_{uuid.uuid4().hex}"
    folder = str(code_dir)
    spec = importlib.util.spec_from_file_location(
        name, path, loader=_ModelSourceLoader(name, str(path))
    )
    module = importlib.util.module_from_spec(spec)
    # Sibling modules of the script import as in the container, where code/ is on sys.path.
    with _import_lock:
        before = set(sys.modules)
        _importing.add(folder)
        sys.path.insert(0, folder)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise LoadError(f"importing {program} raised {type(exc).__name__}: {exc}") from exc
        finally:
            sys.path.remove(folder)
            _importing.discard(folder)
            sys.path_importer_cache.pop(folder, None)
            for added in set(sys.modules) - before:
                origin = getattr(sys.modules.get(added), "__file__", None) or ""
                if origin.startswith(folder + os.sep):
                    del sys.modules[added]
    return module


if _model_path_hook not in sys.path_hooks:
    sys.path_hooks.insert(0, _model_path_hook)


class ScriptHandler:
    """A framework container serving a user script (the SageMaker inference handler chain)."""

    def __init__(
        self,
        model_dir: Path,
        code_dir: Path,
        program: str,
        xgboost_image: bool,
        default_accept: str,
    ):
        self.module = _import_script(code_dir, program)
        self.xgboost = xgboost_image
        self.default_accept = default_accept
        model_fn = getattr(self.module, "model_fn", None)
        try:
            if model_fn is not None:
                self.model = single_threaded(model_fn(str(model_dir)))
            elif xgboost_image:
                self.model = load_xgboost_model(model_dir)
            else:
                raise LoadError(f"{program} defines no model_fn (required for this framework)")
        except LoadError:
            raise
        except Exception as exc:
            raise LoadError(f"model_fn raised {type(exc).__name__}: {exc}") from exc

    def _default_input(self, body: bytes, content_type: str):
        from sagemaker_inference import decoder, errors

        media = _media_type(content_type)
        if self.xgboost:
            return parse_rows(body, content_type)
        try:
            return decoder.decode(body.decode("utf-8") if media in (CSV, JSON) else body, media)
        except errors.UnsupportedFormatError as exc:
            raise InvocationError(415, str(exc)) from None

    def _default_predict(self, data, model):
        if self.xgboost and hasattr(model, "num_features"):
            import numpy as np

            return xgboost_predict(model, np.asarray(data, dtype=np.float32))
        return model.predict(data)

    def _default_output(self, prediction, accept: str):
        from sagemaker_inference import encoder, errors

        try:
            return encoder.encode(prediction, _media_type(accept)), _media_type(accept)
        except errors.UnsupportedFormatError as exc:
            raise InvocationError(406, str(exc)) from None

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        accept = accept if _media_type(accept) not in ("", "*/*") else self.default_accept
        m = self.module
        if transform_fn := getattr(m, "transform_fn", None):
            result = _stage(400, transform_fn, self.model, body, content_type, accept)
        else:
            input_fn = getattr(m, "input_fn", None)
            data = (
                _stage(400, input_fn, body, content_type)
                if input_fn
                else self._default_input(body, content_type)
            )
            predict_fn = getattr(m, "predict_fn", None) or self._default_predict
            prediction = _stage(400, predict_fn, data, self.model)
            output_fn = getattr(m, "output_fn", None)
            result = (
                _stage(500, output_fn, prediction, accept)
                if output_fn
                else self._default_output(prediction, accept)
            )
        response, content = result if isinstance(result, tuple) else (result, accept)
        if isinstance(response, str):
            response = response.encode()
        return bytes(response), content


def _stage(status_for_value_errors: int, fn, *args):
    """Call a handler function; its exceptions become what the container would answer."""
    from sagemaker_inference import errors

    try:
        return fn(*args)
    except InvocationError:
        raise
    except errors.BaseInferenceToolkitError as exc:
        raise InvocationError(int(exc.status_code), str(exc.message)) from None
    except errors.UnsupportedFormatError as exc:
        raise InvocationError(415, str(exc)) from None
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise InvocationError(status_for_value_errors, f"{type(exc).__name__}: {exc}") from None
    except Exception as exc:
        raise InvocationError(500, f"{type(exc).__name__}: {exc}") from None
