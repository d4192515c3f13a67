"""MOSTLY AI's engine as a peer of the fair modes (issue #10): TabularARGN with its fairness setting.

`mostlyai-engine` 2.7.3 (Apache-2.0) trains an autoregressive network over the columns and, given
``fairness={targetColumn, sensitiveColumns}`` at sampling, makes the target independent of the
sensitive columns in the generated table (data-level parity). The table it generates from Adult's
training rows (as many rows as train) is audited like ours (`fairdistill.audit.audit_table`,
criterion ``dp``: HGB trained on the table, tested on the real holdout, beside TRTR and the fair
reference), and the default gate is checked. One JSON line per (table, seed) in
benchmarks/results/peer_mostlyai.jsonl.

Not in the project's environment: the engine pins psutil < 6 and pulls a torchvision built for CUDA
that breaks its import on CPU torch (the tabular path does not need it). A side environment that
reuses the project's packages::

    python3.11 -m venv /tmp/mai-venv
    echo "$PWD/.venv/lib/python3.11/site-packages" > /tmp/mai-venv/lib/python3.11/site-packages/main.pth
    /tmp/mai-venv/bin/pip install mostlyai-engine==2.7.3
    /tmp/mai-venv/bin/pip uninstall -y torchvision torchaudio
    PYTHONPATH=$PWD /tmp/mai-venv/bin/python benchmarks/peer_mostlyai.py --seeds 0 --minutes 10
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch
from fair_modes import audit_row

from fairdistill.ingest import read_dataset
from fairdistill.spec import load_builtin

RESULTS = Path(__file__).parent / "results" / "peer_mostlyai.jsonl"


def synthesize(train: pl.DataFrame, spec, seed: int, minutes: float, workspace: Path):
    """TabularARGN trained on ``train`` for at most ``minutes``; as many fair rows as train."""
    from mostlyai import engine
    from mostlyai.engine.domain import FairnessConfig

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    start = time.process_time()
    engine.split(tgt_data=train.to_pandas(), model_type="TABULAR", workspace_dir=workspace)
    engine.analyze(workspace_dir=workspace)
    engine.encode(workspace_dir=workspace)
    engine.train(max_training_time=minutes, workspace_dir=workspace, device="cpu")
    train_cpu = time.process_time() - start
    fairness = FairnessConfig(targetColumn=spec.target, sensitiveColumns=spec.sensitive_columns)
    start = time.perf_counter()
    engine.generate(
        sample_size=train.height, fairness=fairness, workspace_dir=workspace, device="cpu"
    )
    rate = train.height / (time.perf_counter() - start)
    table = pl.read_parquet(workspace / "SyntheticData" / "*.parquet")
    # the engine writes its own dtypes (e.g. int64 / string): back to the source's schema
    table = table.select([pl.col(c).cast(train.schema[c], strict=False) for c in train.columns])
    return table, train_cpu, rate


def run(name: str, seed: int, minutes: float) -> dict:
    spec = load_builtin(name)
    train, holdout, _ = read_dataset(spec)
    with tempfile.TemporaryDirectory() as folder:
        synthetic, train_cpu, rate = synthesize(train, spec, seed, minutes, Path(folder))
    row = {"peer": "mostlyai-engine 2.7.3", "table": name, "seed": seed, "minutes": minutes}
    row |= audit_row(train, holdout, synthetic, spec, seed, "dp")
    row |= {"train_cpu_s": round(train_cpu, 1), "generate_rows_per_s": round(rate)}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", nargs="+", default=["adult"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="training time cap per run")
    args = parser.parse_args()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    for name in args.tables:
        for seed in args.seeds:
            row = run(name, seed, args.minutes)
            print(json.dumps(row), flush=True)
            with RESULTS.open("a") as out:
                out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
