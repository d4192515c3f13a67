"""A few thin MLflow helpers: one run per refresh, the losses of each training round, one registered model per dataset.

Tracking defaults to a local SQLite file (`fairdistill.environment`); `MLFLOW_TRACKING_URI` overrides it.
Every call names its run explicitly (`run_id=`), so tasks never depend on MLflow's thread-local
active run.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import infer_signature

from fairdistill import __version__, errors
from fairdistill.lake import folder_digest
from fairdistill.settings import GenerationSettings

EXPERIMENT = "fairdistill"
CHAMPION = "champion"
# Model version tag: sha256 over every file of the logged model (its code artifact pyfunc.py, the
# MLmodel that names the loader, the weights), recorded at registration, checked before loading.
CONTENT_TAG = "fairdistill.content_sha256"
# Written by MLflow into each downloaded copy of a registered model (name and version, spelled after
# the URI used), not stored with the model: left out of its digest.
DOWNLOAD_NOTE = "registered_model_meta"
REGISTERED_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w-]+))$")


def registered_model_name(dataset: str) -> str:
    return f"fairdistill-{dataset}"


def code_version() -> str:
    """The git commit of the checkout when there is one, else the package version."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
            check=True,
        ).stdout.strip()
        return f"{__version__}+{commit}"
    except (OSError, subprocess.SubprocessError):
        return __version__


def start_refresh_run(dataset: str, run_id: str, fingerprint: str, params: dict) -> str:
    """Create the MLflow run of one refresh; returns its id. Runs are named after the lake run id."""
    name = os.environ.get("FAIRDISTILL_EXPERIMENT", EXPERIMENT)
    if mlflow.get_experiment_by_name(name) is None:
        artifacts = os.environ.get("FAIRDISTILL_MLFLOW_ARTIFACTS")
        mlflow.create_experiment(
            name, artifact_location=Path(artifacts).as_uri() if artifacts else None
        )
    mlflow.set_experiment(name)
    with mlflow.start_run(run_name=f"{dataset}-{run_id}") as run:
        mlflow.set_tags(
            {
                "dataset": dataset,
                "lake_run_id": run_id,
                "fingerprint": fingerprint,
                "code_version": code_version(),
            }
        )
        mlflow.log_params(params)
    return run.info.run_id


def round_logger(tracking_run_id: str, prefix: str) -> Callable[[dict], None]:
    """An `on_round` callback that logs each loss as `<prefix>.<name>` with the round as step."""

    def log(losses: dict) -> None:
        step = int(losses["round"])
        metrics = {f"{prefix}.{k}": float(v) for k, v in losses.items() if k != "round"}
        mlflow.log_metrics(metrics, step=step, run_id=tracking_run_id)

    return log


def metric_name(name: str) -> str:
    """MLflow allows letters, digits and `_-. /` in names: group labels like `A & B` are rewritten."""
    return re.sub(r"[^\w\-. /]", "_", name)


def log_metrics(tracking_run_id: str, metrics: dict[str, float]) -> None:
    mlflow.log_metrics(
        {metric_name(k): float(v) for k, v in metrics.items()}, run_id=tracking_run_id
    )


def pip_requirements() -> list[str]:
    """The tested stack a loaded model needs. The model's code (`fairdistill`, `models`) is this
    project: load it where the project is installed (`make run` / `make test` install it editable)."""
    from importlib.metadata import version

    packages = ["torch", "polars", "pyarrow", "numpy", "scikit-learn", "pandas", "mlflow"]
    return [f"{name}=={version(name).split('+')[0]}" for name in packages]


def register_bundle(
    bundle_dir: Path, code: Path, dataset: str, tracking_run_id: str, example: pd.DataFrame
) -> str:
    """Log the saved bundle as one pyfunc model and register it; returns `models:/<name>/<version>`.

    The model is logged as code (MLflow "models from code": `code` is the wrapper's file), so loading
    it unpickles nothing; its decode params default to `GenerationSettings`'. The sha256 of every
    file of the registered model is recorded as the version's tag `CONTENT_TAG`, which `load_bundle`
    checks. Registration goes through the client, which prints nothing (the fluent API writes to
    stderr)."""
    request = pd.DataFrame({"rows": [len(example)], "seed": [0]})
    name = registered_model_name(dataset)
    with mlflow.start_run(run_id=tracking_run_id), warnings.catch_warnings():
        # The signature's integer columns are integer by design (the codec restores source dtypes).
        warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
        signature = infer_signature(request, example, params=GenerationSettings().decode_options())
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(code),
            artifacts={"bundle": str(bundle_dir)},
            signature=signature,
            input_example=request,
            pip_requirements=pip_requirements(),
        )
    client = mlflow.MlflowClient()
    try:
        client.create_registered_model(name)
    except mlflow.exceptions.MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    with tempfile.TemporaryDirectory() as folder:
        logged = Path(mlflow.artifacts.download_artifacts(info.model_uri, dst_path=folder))
        content = folder_digest(logged, ignore={DOWNLOAD_NOTE})
    version = client.create_model_version(
        name,
        source=info.model_uri,
        run_id=tracking_run_id,
        model_id=info.model_id,
        tags={CONTENT_TAG: content},
    )
    return f"models:/{name}/{version.version}"


def _model_version(model_uri: str):
    """The registered model version a `models:/<name>/<version>` or `models:/<name>@<alias>` URI
    names (MlflowException when there is none)."""
    match = REGISTERED_URI.match(model_uri)
    if match is None:
        raise mlflow.exceptions.MlflowException(
            "not a registered model URI (models:/<name>/<version> or models:/<name>@<alias>)"
        )
    client = mlflow.MlflowClient()
    if match["alias"]:
        return client.get_model_version_by_alias(match["name"], match["alias"])
    return client.get_model_version(match["name"], match["version"])


def load_bundle(model_uri: str):
    """The `FairDistillModel` behind a registered model URI, e.g. `models:/fairdistill-adult/3`.

    Loading runs the model's code artifact (`models/pyfunc.py` as logged), so the model's files are
    copied to a temporary folder, checked against the sha256 recorded at registration
    (`CONTENT_TAG`), and loaded from that checked copy only."""
    try:
        recorded = _model_version(model_uri).tags.get(CONTENT_TAG)
        with tempfile.TemporaryDirectory() as folder:
            local = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=folder))
            if recorded is None:
                problem = "it was registered without the sha256 of its files (by an older version)"
                raise errors.ModelTampered(
                    errors.MODEL_TAMPERED.format(uri=model_uri, problem=problem)
                )
            if folder_digest(local, ignore={DOWNLOAD_NOTE}) != recorded:
                problem = (
                    f"its files differ from those registered (sha256 {CONTENT_TAG} = {recorded})"
                )
                raise errors.ModelTampered(
                    errors.MODEL_TAMPERED.format(uri=model_uri, problem=problem)
                )
            return mlflow.pyfunc.load_model(str(local)).unwrap_python_model().model
    except mlflow.exceptions.MlflowException as error:
        raise errors.ModelNotFound(
            errors.MODEL_NOT_FOUND.format(
                uri=model_uri, reason=str(error).splitlines()[0], tracking=mlflow.get_tracking_uri()
            )
        ) from None


def set_champion(model_uri: str) -> None:
    """Point the `champion` alias at the model version that passed the audit gate."""
    _, name, version = model_uri.rsplit("/", 2)
    mlflow.MlflowClient().set_registered_model_alias(name, CHAMPION, version)


def champion(dataset: str) -> str | None:
    """`models:/<name>/<version>` of the dataset's `champion`, or None when there is none."""
    name = registered_model_name(dataset)
    try:
        version = mlflow.MlflowClient().get_model_version_by_alias(name, CHAMPION)
    except mlflow.exceptions.MlflowException:
        return None
    return f"models:/{name}/{version.version}"


def tracking_uri() -> str:
    return mlflow.get_tracking_uri()


def log_audit(tracking_run_id: str, metrics: dict[str, float], files: list[Path]) -> None:
    """Every audit number as `audit.<name>` and the report files as artifacts under `audit/`."""
    log_metrics(tracking_run_id, {f"audit.{k}": v for k, v in metrics.items()})
    client = mlflow.MlflowClient()
    for path in files:
        client.log_artifact(tracking_run_id, str(path), artifact_path="audit")
