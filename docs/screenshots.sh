#!/usr/bin/env bash
# Reproduce docs/served-*.png: served mode on throwaway state, one refresh of adult-nightly triggered
# through the Prefect API with a tiny model (seconds of training), which the deployment's gate (the
# defaults) rejects; then headless-Chromium screenshots of the deployment, the rejected flow run (its
# log, and its details with the state's message), its audit artifact and its MLflow run (FAILED, with
# the gate's tags); then stop. FULL=1 runs the deployment's own settings instead (minutes on 2 cores).
# Needs Debian's `chromium` (or set CHROMIUM) and free ports 4200 and 5000 (or FAIRDISTILL_PREFECT_PORT
# and FAIRDISTILL_MLFLOW_PORT).
#
# docs/audit-report.png is the report of `make run` (the default model on Adult), shot the same way:
#   chromium --headless --no-sandbox --disable-gpu --window-size=1400,3300 \
#     --screenshot=docs/audit-report.png file://$PWD/lake/rejected/adult/<run_id>/report.html
set -euo pipefail
cd "$(dirname "$0")/.."
chromium=${CHROMIUM:-chromium}
state=$(mktemp -d)
export FAIRDISTILL_RUNTIME=$state/runtime FAIRDISTILL_LAKE=$state/lake PREFECT_HOME=$state/prefect \
  MLFLOW_TRACKING_URI=sqlite:///$state/mlflow.db FAIRDISTILL_MLFLOW_ARTIFACTS=$state/mlartifacts
prefect=http://${FAIRDISTILL_HOST:-127.0.0.1}:${FAIRDISTILL_PREFECT_PORT:-4200}
mlflow=http://${FAIRDISTILL_HOST:-127.0.0.1}:${FAIRDISTILL_MLFLOW_PORT:-5000}
trap '.venv/bin/fairdistill stop; rm -rf "$state"' EXIT
.venv/bin/fairdistill serve

read -r deployment flow_run artifact experiment mlflow_run < <(
  FULL=${FULL:-} PREFECT_API_URL=$prefect/api MLFLOW_URL=$mlflow .venv/bin/python - <<'PY'
import os

from mlflow import MlflowClient
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter
from prefect.deployments import run_deployment

small = {
    "teacher": {"epochs": 1, "hidden": [32, 32], "latent_dim": 4},
    "student": {"epochs": 1, "hidden": [8]},
    "generation": {"rows": 2000},
    "audit": {"bootstrap_resamples": 50},
}
parameters = {} if os.environ["FULL"] else small
name = "nightly-settings" if os.environ["FULL"] else "tiny-model"
run = run_deployment(
    "refresh/adult-nightly", parameters=parameters, flow_run_name=name, timeout=1800
)
assert run.state.is_failed(), run.state  # the gate rejects it: that is what the pages show
client = MlflowClient(tracking_uri=os.environ["MLFLOW_URL"])
experiment = client.get_experiment_by_name("fairdistill").experiment_id
(tracked,) = client.search_runs([experiment], f"tags.`prefect.flow_run_id` = '{run.id}'")
with get_client(sync_client=True) as prefect:
    (artifact,) = prefect.read_artifacts(
        artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["audit-adult"])),
        flow_run_filter=FlowRunFilter(id={"any_": [run.id]}),
    )
print(run.deployment_id, run.id, artifact.id, experiment, tracked.info.run_id)
PY
)

shot() {  # shot FILE URL [VIRTUAL_TIME_MS] [HEIGHT]: the single-page apps need virtual seconds to render
  "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$state/chromium-$1" --window-size=1400,"${4:-900}" \
    --virtual-time-budget="${3:-15000}" --screenshot="docs/$1" "$2" 2>/dev/null
}
shot served-prefect-deployment.png "$prefect/deployments/deployment/$deployment"
# Prefect's V2 UI opens a tab from the URL: the whole log of the rejected run (one ERROR line, no
# traceback), its details (the state's message) and its audit summary.
shot served-prefect-rejected.png "$prefect/v2/runs/flow-run/$flow_run?tab=Logs" 15000 2300
shot served-prefect-rejected-details.png "$prefect/v2/runs/flow-run/$flow_run?tab=Details" 15000 1400
shot served-prefect-audit.png "$prefect/v2/artifacts/artifact/$artifact" 15000 1500
shot served-mlflow-rejected.png "$mlflow/#/experiments/$experiment/runs/$mlflow_run" 20000 1300
ls -l docs/served-*.png
