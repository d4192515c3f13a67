"""A few thin MLflow helpers: one run per refresh, the losses of each training round, one registered model per dataset.

Tracking defaults to a local SQLite file (`fairdistill.environment`); `MLFLOW_TRACKING_URI` overrides it.
Every call names its run explicitly (`run_id=`), so tasks never depend on MLflow's thread-local
active run. A refresh's run stays RUNNING until the flow ends (`end_refresh_run`, from a flow hook):
FINISHED means the table was published, FAILED that it was rejected or the flow failed.

The registry holds one version per distinct trained model (`fairdistill.model_digest`, a hash of its
parts), registered when its table passed the gate. Aliases: `champion` (passed the configured gate;
the lake's `latest` is its table) and `challenger` (passed a looser gate, published under its run
id only).
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
from mlflow.models import Model, infer_signature

from fairdistill import __version__, errors
from fairdistill.audit import CHALLENGER, CHAMPION, AuditOutcome
from fairdistill.lake import folder_digest
from fairdistill.settings import GenerationSettings

EXPERIMENT = "fairdistill"
MODEL_DIGEST = "fairdistill.model_digest"
# Model version tag: sha256 over every file of the logged model (its code artifact pyfunc.py, the
# MLmodel that names the loader, the weights), recorded at registration, checked before loading.
CONTENT_TAG = "fairdistill.content_sha256"
# Written by MLflow into each downloaded copy of a registered model (name and version, spelled after
# the URI used), not stored with the model: left out of its digest.
DOWNLOAD_NOTE = "registered_model_meta"
REGISTERED_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w-]+))$")
# MLflow's limit on a tag value is larger; a tag holds a message, not a log.
TAG_LENGTH = 1000


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


def experiment_id() -> str:
    """The id of the experiment of refreshes (`FAIRDISTILL_EXPERIMENT`, default `fairdistill`),
    created on first use with its artifacts in `FAIRDISTILL_MLFLOW_ARTIFACTS` when set."""
    name = os.environ.get("FAIRDISTILL_EXPERIMENT", EXPERIMENT)
    if (experiment := mlflow.get_experiment_by_name(name)) is not None:
        return experiment.experiment_id
    artifacts = os.environ.get("FAIRDISTILL_MLFLOW_ARTIFACTS")
    # A folder, or any URL MLflow's artifact stores take (s3://…, gs://…, file://…).
    location = (
        (artifacts if "://" in artifacts else Path(artifacts).resolve().as_uri())
        if artifacts
        else None
    )
    return mlflow.create_experiment(name, artifact_location=location)


def start_refresh_run(name: str, tags: dict[str, str], params: dict) -> str:
    """Create the MLflow run of one refresh and leave it RUNNING; returns its id.

    `tags` say where the run comes from (dataset, lake run id, fingerprint, the Prefect flow run);
    the code version and MLflow's source tags are added (the source is the flow, not the process
    that happens to run it)."""
    source = {
        "code_version": code_version(),
        "mlflow.source.type": "JOB",
        "mlflow.source.name": "flows/refresh.py:refresh",
    }
    tags = {**source, **tags}
    run = mlflow.MlflowClient().create_run(experiment_id(), run_name=name, tags=tags)
    mlflow.log_params(params, run_id=run.info.run_id)
    return run.info.run_id


def run_url(run_id: str) -> str:
    """Where to look at a run: its page when tracking goes to an MLflow server, else how to open it."""
    uri = tracking_uri()
    run = mlflow.MlflowClient().get_run(run_id)
    if uri.startswith(("http://", "https://")):
        return f"{uri.rstrip('/')}/#/experiments/{run.info.experiment_id}/runs/{run_id}"
    return f"{run_id} (open with `mlflow ui --backend-store-uri {uri}`)"


def find_run(tag: str, value: str) -> mlflow.entities.Run | None:
    """The refresh run whose tag `tag` equals `value`, if any (e.g. a Prefect flow-run id)."""
    name = os.environ.get("FAIRDISTILL_EXPERIMENT", EXPERIMENT)
    if (experiment := mlflow.get_experiment_by_name(name)) is None:
        return None
    runs = mlflow.MlflowClient().search_runs(
        [experiment.experiment_id], f"tags.`{tag}` = '{value}'", max_results=1
    )
    return runs[0] if runs else None


def set_tags(run_id: str, tags: dict[str, object]) -> None:
    """Tag a run; long values are cut to TAG_LENGTH characters."""
    client = mlflow.MlflowClient()
    for key, value in tags.items():
        client.set_tag(run_id, key, str(value)[:TAG_LENGTH])


def end_refresh_run(run_id: str, status: str, tags: dict[str, object] | None = None) -> None:
    """Tag the run, then end it with `status` (FINISHED, FAILED or KILLED) at this moment."""
    set_tags(run_id, tags or {})
    mlflow.MlflowClient().set_terminated(run_id, status)


def gate_tags(outcome: AuditOutcome) -> dict[str, str]:
    """The gate's verdict as tags: `fairdistill.gate` (passed/failed), one tag per failed check
    and per check passed on its interval (`AuditOutcome.notes`), the thresholds and what the run
    released."""
    tags = {
        "fairdistill.gate": "passed" if outcome.passed else "failed",
        "fairdistill.release": outcome.release,
    }
    tags |= {f"fairdistill.gate.{k}": str(v) for k, v in outcome.settings.gate.model_dump().items()}
    tags |= {
        f"fairdistill.gate.failed.{check.name}": check.failure()
        for check in outcome.checks
        if not check.passed
    }
    tags |= {
        f"fairdistill.gate.by_interval.{check.name}": note
        for check in outcome.checks
        if (note := check.note())
    }
    if outcome.looser_thresholds:
        tags["fairdistill.gate.looser_than_configured"] = ", ".join(outcome.looser_thresholds)
    return tags


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


# The audit numbers a model version carries as tags (all of them are in its run's metrics), those
# of the gate's classifier (`AuditOutcome.classifier`) first.
CLASSIFIER_NUMBERS = ("tstr.{}.dpr", "tstr.{}.auroc", "trtr.{}.auroc")
KEY_NUMBERS = (
    "data.synthetic.dpr",
    "privacy.exact_copy_rate",
    "fidelity.detection_auc",
    "latent.leakage_auroc",
)


def version_tags(outcome: AuditOutcome) -> dict[str, str]:
    """What a released model version carries: the gate's verdict and thresholds, the key audit
    numbers, and the dataset fingerprint, code version and run of the audit that released it."""
    keys = [key.format(outcome.classifier) for key in CLASSIFIER_NUMBERS] + list(KEY_NUMBERS)
    numbers = {f"audit.{k}": f"{outcome.metrics[k]:.4f}" for k in keys if k in outcome.metrics}
    names = {
        "fingerprint": "fingerprint",
        "code_version": "code_version",
        "mlflow_run_id": "mlflow_run_id",
        "run_id": "lake_run_id",
    }
    run = {tag: str(outcome.run[key]) for key, tag in names.items() if key in outcome.run}
    return gate_tags(outcome) | numbers | run


def find_model_version(dataset: str, digest: str) -> str | None:
    """`models:/<name>/<version>` of the version registered for the trained parts with `digest`."""
    name = registered_model_name(dataset)
    found = mlflow.MlflowClient().search_model_versions(
        f"name = '{name}' and tags.`{MODEL_DIGEST}` = '{digest}'"
    )
    return f"models:/{name}/{min(int(v.version) for v in found)}" if found else None


def register_bundle(
    bundle_dir: Path,
    code: Path,
    dataset: str,
    tracking_run_id: str,
    example: pd.DataFrame,
    digest: str,
) -> str:
    """Log the saved bundle as one pyfunc model of the run and register it as a new version tagged
    with the parts' `digest`; returns `models:/<name>/<version>`.

    The model is logged as code (MLflow "models from code": `code` is the wrapper's file), so loading
    it unpickles nothing; its decode params default to `GenerationSettings`'. `Model.log` is given
    the run id, so the run stays open. The sha256 of every file of the registered model is recorded
    as the version's tag `CONTENT_TAG`, which `load_bundle` checks. Registration goes through the
    client, which prints nothing (the fluent API writes to stderr)."""
    request = pd.DataFrame({"rows": [len(example)], "seed": [0]})
    name = registered_model_name(dataset)
    client = mlflow.MlflowClient()
    # The logged model belongs to the fluent API's experiment, not to its run's: make them one.
    mlflow.set_experiment(experiment_id=client.get_run(tracking_run_id).info.experiment_id)
    with warnings.catch_warnings():
        # The signature's integer columns are integer by design (the codec restores source dtypes).
        warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
        signature = infer_signature(request, example, params=GenerationSettings().decode_options())
        info = Model.log(
            artifact_path=None,
            name="model",
            flavor=mlflow.pyfunc,
            run_id=tracking_run_id,
            python_model=str(code),
            artifacts={"bundle": str(bundle_dir)},
            signature=signature,
            input_example=request,
            pip_requirements=pip_requirements(),
        )
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
        tags={CONTENT_TAG: content, MODEL_DIGEST: digest},
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


def aliases(model_uri: str) -> list[str]:
    """The aliases that point at a model version."""
    _, name, version = model_uri.rsplit("/", 2)
    return list(mlflow.MlflowClient().get_model_version(name, version).aliases)


def release_version(model_uri: str, alias: str, tags: dict[str, str], description: str) -> bool:
    """Point `alias` (champion or challenger) at a model version and record the audit that earned
    it: the version's tags and description are this audit's. A challenger alias left on the new
    champion is removed (the version is no longer a challenger); a version that is the champion
    stays so, with its champion's audit, when a looser gate passes it again (returns False)."""
    _, name, version = model_uri.rsplit("/", 2)
    client = mlflow.MlflowClient()
    if alias == CHALLENGER and CHAMPION in aliases(model_uri):
        return False
    client.set_registered_model_alias(name, alias, version)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, str(value)[:TAG_LENGTH])
    client.update_model_version(name, version, description=description)
    if alias == CHAMPION and CHALLENGER in aliases(model_uri):
        client.delete_registered_model_alias(name, CHALLENGER)
    return True


def set_champion(model_uri: str) -> None:
    """Point the `champion` alias at a model version (`recover` uses it to follow `latest`)."""
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
