#!/usr/bin/env bash
# Reproduce docs/served-*.png: served mode on throwaway state, one refresh of adult-nightly triggered
# through the Prefect API, three headless-Chromium screenshots, then stop. The refresh trains a tiny
# model with the audit gate opened (seconds, and the pages show those settings); FULL=1 uses the
# deployment's own settings instead (minutes on 2 cores, and the run fails if the gate does).
# Needs Debian's `chromium` (or set CHROMIUM) and free ports 4200 and 5000.
set -euo pipefail
cd "$(dirname "$0")/.."
chromium=${CHROMIUM:-chromium}
state=$(mktemp -d)
export FAIRDISTILL_RUNTIME=$state/runtime FAIRDISTILL_LAKE=$state/lake PREFECT_HOME=$state/prefect \
  MLFLOW_TRACKING_URI=sqlite:///$state/mlflow.db FAIRDISTILL_MLFLOW_ARTIFACTS=$state/mlartifacts
trap '.venv/bin/fairdistill stop; rm -rf "$state"' EXIT
.venv/bin/fairdistill serve

read -r deployment flow_run experiment mlflow_run < <(
  FULL=${FULL:-} PREFECT_API_URL=http://127.0.0.1:4200/api .venv/bin/python - <<'PY'
import os

from mlflow import MlflowClient
from prefect.deployments import run_deployment

small = {
    "teacher": {"epochs": 1, "hidden": [32, 32], "latent_dim": 4, "progress": False},
    "student": {"epochs": 1, "hidden": [8], "progress": False},
    "generation": {"rows": 500},
    "audit": {"bootstrap_resamples": 0, "gate": {"min_model_dpr": 0, "max_auroc_drop": 1}},
}
parameters = {} if os.environ["FULL"] else small
run = run_deployment("refresh/adult-nightly", parameters=parameters, timeout=1800)
assert run.state.is_completed(), run.state
client = MlflowClient(tracking_uri="http://127.0.0.1:5000")
experiment = client.get_experiment_by_name("fairdistill").experiment_id
(tracked,) = client.search_runs([experiment], max_results=1)
print(run.deployment_id, run.id, experiment, tracked.info.run_id)
PY
)

shot() {  # shot FILE URL [VIRTUAL_TIME_MS]: the single-page apps need a few virtual seconds to render
  "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$state/chromium-$1" --window-size=1400,"${4:-900}" \
    --virtual-time-budget="${3:-15000}" --screenshot="docs/$1" "$2" 2>/dev/null
}
shot served-prefect-deployment.png "http://127.0.0.1:4200/deployments/deployment/$deployment"
# Prefect's V2 UI opens a tab from the URL (the V1 UI falls back to Logs while the run loads).
shot served-prefect-flow-run.png "http://127.0.0.1:4200/v2/runs/flow-run/$flow_run?tab=Artifacts"
shot served-mlflow-run.png "http://127.0.0.1:5000/#/experiments/$experiment/runs/$mlflow_run" 20000 1000
ls -l docs/served-*.png
