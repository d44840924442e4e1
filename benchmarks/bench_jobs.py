"""The localaws compute plane: job start overhead and pipeline orchestration overhead.

1. Job latency, CreateProcessingJob until DescribeProcessingJob says Completed (polled every
   20 ms), for a script that imports pandas, scikit-learn and XGBoost and prints one line:
   warm workers (forked from the preloaded zygote) vs cold (a fresh interpreter per job,
   LOCALAWS_WARM_WORKERS=0), and the same script run directly with `python` for reference.
2. 10 such jobs started together (warm): total time.
3. Trivial pipelines (steps that only print): wall time of 1- and 3-step chains; per-step
   orchestration overhead = (wall(3) - wall(1)) / 2; pipeline vs direct job = wall(1) minus the
   warm job latency.
Writes benchmarks/results/jobs.json and prints a table. Environment: LOCALAWS_BENCH_JOBS
(samples per figure, default 10).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from benchmarks.common import client_factory, environment, print_table, publish, summary
from localaws.ephemeral import running

SAMPLES = int(os.environ.get("LOCALAWS_BENCH_JOBS", "10"))
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
SCRIPT = "import pandas, sklearn.ensemble, xgboost\nprint('ready')\n"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
POLL = 0.02


class Server:
    """A localaws of its own (temp state dir, free port), started with the given environment."""

    def __init__(self, state_dir: Path, **env: str) -> None:
        self.state_dir, self.env = state_dir, env
        self._stack = ExitStack()

    def __enter__(self) -> Server:
        # `environment` outside `running`: the variables are gone again once the server stops.
        self._stack.enter_context(environment(**self.env))
        self.config = self._stack.enter_context(running(self.state_dir))
        self.client = client_factory(self.config)
        self.sm, self.s3 = self.client("sagemaker"), self.client("s3")
        self.bucket = "bench-jobs"
        self.s3.create_bucket(Bucket=self.bucket)
        iam = self.client("iam")
        self.role = iam.create_role(
            RoleName="bench-jobs", AssumeRolePolicyDocument=json.dumps(TRUST)
        )["Role"]["Arn"]
        iam.put_role_policy(
            RoleName="bench-jobs",
            PolicyName="s3",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                }
            ),
        )
        for name, body in (("heavy.py", SCRIPT), ("trivial.py", "print('hi')\n")):
            self.s3.put_object(Bucket=self.bucket, Key=f"code/{name}", Body=body.encode())
        self.count = 0
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def request(self, script: str) -> dict:
        return {
            "RoleArn": self.role,
            "ProcessingResources": {
                "ClusterConfig": {
                    "InstanceType": "ml.m5.large",
                    "InstanceCount": 1,
                    "VolumeSizeInGB": 1,
                }
            },
            "AppSpecification": {
                "ImageUri": IMAGE,
                "ContainerEntrypoint": ["python3", f"/opt/ml/processing/input/code/{script}"],
            },
            "ProcessingInputs": [
                {
                    "InputName": "code",
                    "S3Input": {
                        "S3Uri": f"s3://{self.bucket}/code/{script}",
                        "LocalPath": "/opt/ml/processing/input/code",
                        "S3DataType": "S3Prefix",
                        "S3InputMode": "File",
                    },
                }
            ],
        }

    def job(self, script: str = "heavy.py") -> float:
        """Seconds from CreateProcessingJob to Completed."""
        self.count += 1
        name = f"bench-{self.count}-{time.monotonic_ns()}"
        started = time.perf_counter()
        self.sm.create_processing_job(ProcessingJobName=name, **self.request(script))
        while True:
            job = self.sm.describe_processing_job(ProcessingJobName=name)
            if job["ProcessingJobStatus"] != "InProgress":
                break
            time.sleep(POLL)
        if job["ProcessingJobStatus"] != "Completed":
            raise RuntimeError(f"job {name}: {job.get('FailureReason')}")
        return time.perf_counter() - started

    def pipeline(self, steps: int) -> float:
        """Seconds from StartPipelineExecution to Succeeded for a chain of trivial steps."""
        name = f"bench-chain-{steps}"
        definition = {
            "Version": "2020-12-01",
            "Steps": [
                {
                    "Name": f"S{i}",
                    "Type": "Processing",
                    "Arguments": self.request("trivial.py"),
                    **({"DependsOn": [f"S{i - 1}"]} if i else {}),
                }
                for i in range(steps)
            ],
        }
        try:
            self.sm.create_pipeline(
                PipelineName=name, RoleArn=self.role, PipelineDefinition=json.dumps(definition)
            )
        except self.sm.exceptions.ClientError:
            pass
        started = time.perf_counter()
        arn = self.sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
        while True:
            status = self.sm.describe_pipeline_execution(PipelineExecutionArn=arn)[
                "PipelineExecutionStatus"
            ]
            if status != "Executing":
                break
            time.sleep(POLL)
        if status != "Succeeded":
            raise RuntimeError(f"pipeline {name}: {status}")
        return time.perf_counter() - started


def _stats(samples: list[float]) -> dict[str, float]:
    return summary(samples, (0.5,), extras=("min", "max"), unit="", digits=3, rule="linear")


def main() -> None:
    figures: dict = {"samples": SAMPLES, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "heavy.py"
        script.write_text(SCRIPT)
        direct = []
        for _ in range(3):
            began = time.perf_counter()
            subprocess.run([sys.executable, str(script)], check=True, capture_output=True)
            direct.append(time.perf_counter() - began)
        figures["direct_python_run_s"] = _stats(direct)
        with Server(Path(tmp) / "cold", LOCALAWS_WARM_WORKERS="0") as server:
            figures["job_cold_s"] = _stats([server.job() for _ in range(SAMPLES)])
        with Server(Path(tmp) / "warm") as server:
            server.job()  # the first job waits for the worker's one-off preload
            figures["job_warm_s"] = _stats([server.job() for _ in range(SAMPLES)])
            began = time.perf_counter()
            with ThreadPoolExecutor(10) as pool:
                list(pool.map(lambda _: server.job(), range(10)))
            figures["ten_jobs_together_s"] = round(time.perf_counter() - began, 3)
            server.pipeline(1)
            one = [server.pipeline(1) for _ in range(SAMPLES)]
            three = [server.pipeline(3) for _ in range(SAMPLES)]
            trivial = [server.job("trivial.py") for _ in range(SAMPLES)]
    figures["pipeline_1_step_s"] = _stats(one)
    figures["pipeline_3_steps_s"] = _stats(three)
    figures["trivial_job_s"] = _stats(trivial)
    figures["orchestration_per_step_s"] = round(
        (figures["pipeline_3_steps_s"]["p50"] - figures["pipeline_1_step_s"]["p50"]) / 2, 3
    )
    figures["pipeline_vs_direct_job_s"] = round(
        figures["pipeline_1_step_s"]["p50"] - figures["trivial_job_s"]["p50"], 3
    )
    figures["warm_saving_per_job_s"] = round(
        figures["job_cold_s"]["p50"] - figures["job_warm_s"]["p50"], 3
    )
    publish("jobs", figures, _print_table)


def _print_table(figures: dict) -> None:
    rows = [
        (key, *(f"{value[k]:.3f}" for k in ("p50", "min", "max")))
        if isinstance(value, dict)
        else (key, f"{value:.3f}", "", "")
        for key, value in figures.items()
        if key not in ("samples", "cpus")
    ]
    print_table(rows, ("figure", "p50 s", "min s", "max s"), align="<>>>")
    print(f"({SAMPLES} samples per figure, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
