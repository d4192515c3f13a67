"""A fair classifier on real data: HGB plus fairlearn's ThresholdOptimizer, for DP and for EO.

The "fair classifier on real data" lines of docs/benchmarks.md (issue #10): the audit's gradient-boosted
trees (`fairdistill.metrics.make_classifier("hgb")`, sensitive columns among the features) fitted on
real train, then fairlearn's ThresholdOptimizer (Hardt, Price & Srebro 2016) fitted on real train with
the constraint, and scored on the real holdout. Its predictions are randomised between two cut-offs
where one is not enough, so there is no score to rank: accuracy, F1, DPR and EOR are reported, with
the plain HGB beside them. A reference for what post-processing a model trained on real data gives,
against training a model on a fair synthetic table. One JSON line per (table, seed, constraint) in
benchmarks/results/fair_classifiers.jsonl.

    .venv/bin/python benchmarks/fair_classifiers.py --tables adult compas --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import polars as pl
from fairlearn.postprocessing import ThresholdOptimizer

from fairdistill.audit import classifier_columns
from fairdistill.ingest import read_dataset
from fairdistill.metrics import intersectional_groups, make_classifier, score_predictions
from fairdistill.metrics.tables import to_pandas
from fairdistill.spec import load_builtin

RESULTS = Path(__file__).parent / "results" / "fair_classifiers.jsonl"
CONSTRAINTS = {"dp": "demographic_parity", "eo": "equalized_odds"}
KEYS = ("accuracy", "f1", "dpr", "eor")


def frame(table: pl.DataFrame, columns: dict) -> tuple:
    """Features (the pandas frame the audit's classifiers read), labels in {0, 1} and groups."""
    categorical = [*columns["sensitive"], *columns["categorical"]]
    features = to_pandas(table, categorical=categorical, numeric=columns["numeric"])
    y = (table[columns["target"]].cast(pl.String) == str(columns["positive_label"])).to_numpy()
    groups = intersectional_groups(*(table[c].to_numpy() for c in columns["sensitive"]))
    return features[[*categorical, *columns["numeric"]]], y.astype(int), groups


def run(name: str, seed: int) -> list[dict]:
    spec = load_builtin(name)
    train, holdout, _ = read_dataset(spec)
    columns = classifier_columns(spec)
    (x, y, s), (x_test, y_test, s_test) = (frame(t, columns) for t in (train, holdout))
    categorical = [*columns["sensitive"], *columns["categorical"]]
    model = make_classifier("hgb", categorical, columns["numeric"], random_state=seed).fit(x, y)
    score = model.predict_proba(x_test)[:, 1]
    plain = score_predictions(y_test, score, sensitive=s_test)
    rows = []
    for criterion, constraint in CONSTRAINTS.items():
        optimizer = ThresholdOptimizer(
            estimator=model, constraints=constraint, prefit=True, predict_method="predict_proba"
        ).fit(x, y, sensitive_features=s)
        predicted = optimizer.predict(x_test, sensitive_features=s_test, random_state=seed)
        # A 0/1 prediction as the "score": at the cut-off ½ these are the predictions themselves.
        fair = score_predictions(y_test, predicted.astype(float), sensitive=s_test)
        row = {"table": name, "seed": seed, "criterion": criterion}
        row |= {f"hgb.{k}": round(float(plain[k]), 4) for k in (*KEYS, "auroc")}
        row |= {f"threshold_optimizer.{k}": round(float(fair[k]), 4) for k in KEYS}
        row["positive_rate"] = round(float(np.mean(predicted)), 4)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", nargs="+", default=["adult", "compas"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = parser.parse_args()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as out:
        for name in args.tables:
            for seed in args.seeds:
                for row in run(name, seed):
                    out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
