"""Cache policy of the training stages (Prefect's own policies, composed).

The model folder is keyed by the dataset fingerprint and the settings (`fairdistill.lake.model_dir`),
so the inputs that decide a stage's result are the folder, its own settings and its source code: the
snapshot's run-specific paths and the MLflow run id are left out of the key.
"""

from prefect.cache_policies import INPUTS, TASK_SOURCE

ON_MODEL_DIR = (INPUTS - "snapshot" - "tracking_run_id") + TASK_SOURCE
