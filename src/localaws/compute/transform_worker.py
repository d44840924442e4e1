"""What runs inside a transform job's process: the model over every input object, outputs to S3.

Started by `transform` in a warm worker with the model role's credentials in AWS_*, the
config file in `LOCALAWS_TRANSFORM_CONFIG`, and its job directory's `opt_ml/` standing in for
`/opt/ml`. As the "Batch transform" guide and the API reference describe:
- input: every object under the `S3Prefix` (keys starting with it), or those a `ManifestFile`
  lists (`[{"prefix": "s3://b/p/"}, "rel/key", ...]`); `CompressionType` Gzip is unpacked;
- `SplitType` Line splits an object into records at newlines (blank lines skipped), None keeps
  it whole; `BatchStrategy` SingleRecord sends one record per request, MultiRecord as many as
  fit in `MaxPayloadInMB` (0: no limit), joined by newlines;
- each request is `invoke(body, ContentType, Accept)` of the model's inference handler;
- output: one object per input, `<S3OutputPath>/<key relative to the input prefix's
  folder>.out` (the manifest's relative key for a manifest); `AssembleWith` Line ends every
  response with a newline, None concatenates them as they are;
- an object that fails gets no output (no partial objects) and the others still run; the job
  then fails with the first failure, `ClientError: ...` naming the object (and line), written
  to the failure file (API reference, TransformOutput.S3OutputPath:
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformOutput.html).
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

NEWLINE = b"\n"


class TransformFailure(Exception):
    """The job fails with str() as its FailureReason."""


def _split_url(url: str) -> tuple[str, str]:
    if not url.startswith("s3://"):
        raise TransformFailure(f"ClientError: {url!r} is not an s3:// URL")
    bucket, _, key = url[5:].partition("/")
    return bucket, key


def _s3_error(exc, what: str) -> TransformFailure:
    error = exc.response.get("Error", {})
    detail = f"{error.get('Code', '')} {error.get('Message', '')}".rstrip()
    return TransformFailure(f"ClientError: could not {what}: {detail}")


def inputs(s3, source: dict) -> list[tuple[str, str, str]]:
    """(bucket, key, output key relative to S3OutputPath) of every input object."""
    from botocore.exceptions import ClientError

    uri = source["S3Uri"]
    bucket, prefix = _split_url(uri)
    found: list[tuple[str, str, str]] = []
    try:
        if source["S3DataType"] == "ManifestFile":
            body = s3.get_object(Bucket=bucket, Key=prefix)["Body"].read()
            try:
                manifest = json.loads(body)
                base_bucket, base = _split_url(manifest[0]["prefix"])
                found = [(base_bucket, base + rel, rel) for rel in manifest[1:]]
            except (ValueError, TypeError, KeyError, IndexError) as exc:
                raise TransformFailure(
                    f"ClientError: manifest {uri} is not a JSON list starting with "
                    f'{{"prefix": "s3://..."}}: {exc}'
                ) from None
        else:
            folder = prefix[: prefix.rfind("/") + 1]
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for page in pages:
                for item in page.get("Contents", []):
                    if not item["Key"].endswith("/"):
                        found.append((bucket, item["Key"], item["Key"][len(folder) :]))
    except ClientError as exc:
        raise _s3_error(exc, f"list the input {uri}") from None
    if not found:
        raise TransformFailure(f"ClientError: No S3 objects found under S3 URL {uri!r}")
    return found


def records(data: bytes, split: str) -> Iterator[tuple[int, bytes]]:
    """(line number, record) of an object: its lines (SplitType Line) or itself whole."""
    if split != "Line":
        yield 1, data
        return
    for number, line in enumerate(data.split(NEWLINE), 1):
        line = line.rstrip(b"\r")
        if line.strip():
            yield number, line


def batches(
    items: Iterator[tuple[int, bytes]], strategy: str, max_payload: int, where: str
) -> Iterator[list[tuple[int, bytes]]]:
    """Mini-batches of records: one each (SingleRecord) or as many as fit (MultiRecord)."""
    batch: list[tuple[int, bytes]] = []
    size = 0
    for number, record in items:
        if max_payload and len(record) > max_payload:
            raise TransformFailure(
                f"ClientError: the record at line {number} of {where} is {len(record)} bytes, "
                f"more than MaxPayloadInMB ({max_payload // (1024 * 1024)} MB)"
            )
        if batch and (
            strategy != "MultiRecord" or (max_payload and size + len(record) > max_payload)
        ):
            yield batch
            batch, size = [], 0
        batch.append((number, record))
        size += len(record) + 1
    if batch:
        yield batch


class Transformer:
    """One model handler applied to objects as the job's config says."""

    def __init__(self, handler, config: dict):
        self.handler = handler
        self.config = config

    def _invoke(self, batch: list[tuple[int, bytes]], where: str) -> bytes:
        from localaws.compute.endpoint_handlers import InvocationError

        body = NEWLINE.join(record for _, record in batch)
        try:
            return self.handler.invoke(body, self.config["content_type"], self.config["accept"])[0]
        except InvocationError as exc:
            if len(batch) > 1:  # find the record the model refuses, to name its line
                for item in batch:
                    self._invoke([item], where)
            line = f"the record at line {batch[0][0]} of " if self.config["split"] == "Line" else ""
            raise TransformFailure(
                f"ClientError: the model answered {exc.status} for {line}{where}: {exc.message}"
            ) from None

    def transform(self, data: bytes, where: str) -> tuple[bytes, int, int]:
        """The output object of one input object; with its record and request counts."""
        config = self.config
        if config["compression"] == "Gzip":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as exc:
                raise TransformFailure(f"ClientError: {where} is not gzip data: {exc}") from None
        parts: list[bytes] = []
        count = requests = 0
        items = records(data, config["split"])
        for batch in batches(items, config["strategy"], config["max_payload"], where):
            answer = self._invoke(batch, where)
            if config["assemble"] == "Line" and not answer.endswith(NEWLINE):
                answer += NEWLINE
            parts.append(answer)
            count += len(batch)
            requests += 1
        return b"".join(parts), count, requests


def run(config: dict, opt_ml: Path) -> None:
    import boto3
    from botocore.config import Config

    from localaws.compute.endpoint_handlers import LoadError
    from localaws.compute.endpoint_models import Variant, load_variant

    s3 = boto3.client("s3", config=Config(retries={"max_attempts": 3}))
    variant = Variant(**config["variant"])
    print(f"Loading model {variant.model_name} ({variant.model_data_url})")
    try:
        handler = load_variant(variant, os.environ["AWS_REGION"], opt_ml, s3)
    except LoadError as exc:
        raise TransformFailure(f"ClientError: the model could not be loaded: {exc}") from None
    found = inputs(s3, config["source"])
    print(f"{len(found)} input object(s) under {config['source']['S3Uri']}")
    out_bucket, out_prefix = _split_url(config["output_path"])
    out_prefix = out_prefix.rstrip("/") + "/" if out_prefix.strip("/") else ""
    transformer = Transformer(handler, config)
    failures: list[TransformFailure] = []
    for bucket, key, rel in found:
        try:
            _one_object(s3, transformer, bucket, key, f"{out_prefix}{rel}.out", out_bucket)
        except TransformFailure as exc:  # the other objects still run, as on AWS
            print(str(exc), file=sys.stderr)
            failures.append(exc)
    if failures:
        raise failures[0]


def _one_object(s3, transformer: Transformer, bucket: str, key: str, target: str, out_bucket: str):
    from botocore.exceptions import ClientError

    where = f"s3://{bucket}/{key}"
    started = time.monotonic()
    try:
        data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        raise _s3_error(exc, f"read {where}") from None
    output, count, requests = transformer.transform(data, where)
    kms = transformer.config["kms_key"]
    extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms} if kms else {}
    try:
        s3.put_object(Bucket=out_bucket, Key=target, Body=output, **extra)
    except ClientError as exc:
        raise _s3_error(exc, f"write s3://{out_bucket}/{target}") from None
    seconds = time.monotonic() - started
    print(
        f"{where}: {count} record(s) in {requests} request(s), {seconds:.2f}s "
        f"-> s3://{out_bucket}/{target}"
    )


def main() -> None:
    """Entry point of the worker spec (`runner` kind "call")."""
    opt_ml = Path.cwd() / "opt_ml"
    with open(os.environ["LOCALAWS_TRANSFORM_CONFIG"]) as fh:
        config = json.load(fh)
    try:
        run(config, opt_ml)
    except TransformFailure as exc:
        print(str(exc), file=sys.stderr)
        (opt_ml / "output").mkdir(parents=True, exist_ok=True)
        (opt_ml / "output" / "failure").write_text(str(exc))
        raise SystemExit(1) from None
