"""`fairdistill` command line: run a refresh on Prefect's ephemeral API with local defaults.

Exit codes: 0 = done (a refresh published its table), 2 = a mistake the user can fix (spec, data,
settings, a model URI, a folder that cannot be written), 3 = the audit gate rejected the table, 1 =
anything else (a bug or a crash). Settings, specs and the folders a refresh writes are checked
before Prefect, torch or MLflow is imported.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from pathlib import Path

from fairdistill.environment import configure_environment

EXIT_OK, EXIT_CRASH, EXIT_USER_ERROR, EXIT_GATE_FAILED = 0, 1, 2, 3
# The modes that decode one row per given row (repair): not counterfactual.
ONE_ROW_MODES = ("dp", "eo", "faithful")
# What `refresh` imports while Prefect's server boots: the flow's libraries (torch, MLflow, Great
# Expectations), and torch._dynamo, which torch's optimizers import when the first one is made
# (1.1-1.7 s of the teacher's stage otherwise).
REFRESH_IMPORTS = ("flows.refresh", "torch._dynamo")


def _location(path: str) -> str:
    return path if "://" in path else str(Path(path).resolve())


def _spec_from_args(args: argparse.Namespace):
    from fairdistill.spec import load_builtin, load_spec

    spec = load_spec(args.spec) if args.spec else load_builtin(args.dataset)
    if args.source:
        spec = spec.model_copy(update={"source": _location(args.source)})
    return spec.absolute()


def _generation_from_args(args: argparse.Namespace, **fixed):
    """The decode options given on the command line, checked by the flow's own settings model."""
    from fairdistill.settings import parse_settings

    given = {
        name: getattr(args, name)
        for name in ("mode", "fairness", "label_temperature", "seed")
        if getattr(args, name, None) is not None
    }
    return parse_settings({"generation": given | fixed}, "the command line").generation


def print_key_numbers(m: dict[str, float], file=sys.stdout) -> None:
    """The headline of an audit: the gate's classifier on the real holdout (gradient-boosted trees
    for tables, the audit's CNN for images), trained on the synthetic table, on the fair reference
    (real train, labels made fair by the run's criterion) and on real train; then the table's own
    label parity and its copies of training rows."""
    from fairdistill.audit import GATE_CLASSIFIER

    c = next(c for c in GATE_CLASSIFIER.values() if f"tstr.{c}.dpr" in m)
    nan = float("nan")
    print("  classifier trained on     AUROC    DPR    EOR   (on the real holdout)", file=file)
    for prefix, name in (("tstr", "synthetic"), ("fair", "fair reference"), ("trtr", "real")):
        auroc, dpr, eor = (m.get(f"{prefix}.{c}.{k}", nan) for k in ("auroc", "dpr", "eor"))
        print(f"  {name:<24}{auroc:6.3f} {dpr:6.3f} {eor:6.3f}", file=file)
    print(
        f"  data DPR {m['data.synthetic.dpr']:.3f} (real {m['data.real.dpr']:.3f}) · "
        f"exact copies {m['privacy.exact_copy_rate']:.1%}",
        file=file,
    )


def refresh(args: argparse.Namespace) -> int:
    from fairdistill.environment import check_locations
    from fairdistill.settings import (
        RefreshSettings,
        configured_gate_from_environment,
        dataset_settings,
        load_settings,
    )

    spec = _spec_from_args(args)
    settings = load_settings(args.config) if args.config else RefreshSettings()
    # only the sections the file sets: the flow fills the rest from the dataset's tuned settings
    given = {section: getattr(settings, section) for section in settings.model_fields_set}
    dataset_settings(spec.name, **given)  # tuned and given together: checked now, not in the flow
    configured_gate_from_environment()  # a malformed one is a clear error now, not after training
    check_locations()
    from app.embedded import local_apis

    if args.dask:
        os.environ["FAIRDISTILL_DASK"] = args.dask  # read when the flow is defined (its import)
    with local_apis(while_starting=lambda: [*map(importlib.import_module, REFRESH_IMPORTS)]):
        from flows.refresh import refresh as refresh_flow

        result = refresh_flow(dataset=spec, **given)
    from fairdistill.audit import CHAMPION
    from fairdistill.tracking import run_url

    if result.release == CHAMPION:
        print(f"\nrefresh of {result.dataset} passed the audit gate and was published", end="")
    else:
        print(
            f"\nrefresh of {result.dataset} passed a gate looser than the configured one "
            "(audit.gate): published under its run id only, `latest` and @champion did not move",
            end="",
        )
    print(f" (run {result.run_id})")
    for note in result.gate_notes:
        print(f"  note: {note}")
    print_key_numbers(result.metrics)
    print(f"  synthetic table:   {result.synthetic_table}")
    print(f"  audit report:      {result.report}")
    print(f"  audit numbers:     {result.audit}")
    print(f"  raw snapshot:      {Path(result.raw_train).parent}")
    print(f"  validation report: {result.validation_report}")
    print(f"  MLflow run:        {run_url(result.mlflow_run_id)}")
    print(f"  registered model:  {result.model_uri} (@{result.release})")
    return EXIT_OK


def generate(args: argparse.Namespace) -> int:
    settings = _generation_from_args(args)
    from fairdistill.ingest import read_training_rows
    from fairdistill.tracking import load_bundle
    from models.pipeline import sharded_rows, write_synthetic_table

    model = load_bundle(args.model)
    train = read_training_rows(_location(args.train), model.codec.columns_) if args.train else None
    out = Path(args.out).resolve()
    rows, rate = write_synthetic_table(sharded_rows(model, args.rows, settings, exclude=train), out)
    print(f"wrote {rows} rows from {args.model} to {out} ({rate:,.0f} rows/s)")
    if train is None:
        print(
            "copies of training rows were not checked: pass --train with the run's raw "
            "train.parquet (lake/raw/<dataset>/<run_id>/) to apply the refresh's copy policy"
        )
    return EXIT_OK


def repair(args: argparse.Namespace) -> int:
    """A fair twin of given rows (not privacy-preserving: row i comes from input row i)."""
    settings = _generation_from_args(args)
    from fairdistill.ingest import read_table
    from fairdistill.lake import write_parquet
    from fairdistill.spec import load_spec
    from fairdistill.tracking import load_bundle

    rows = read_table(_location(args.input), load_spec(args.spec))
    twin = load_bundle(args.model).repair(rows, settings)
    out = write_parquet(twin, Path(args.out).resolve())
    print(
        f"wrote a fair twin of {twin.height} rows to {out} (not privacy-preserving: one row per input row)"
    )
    return EXIT_OK


def audit(args: argparse.Namespace) -> int:
    """Audit any synthetic table (ours or another tool's) against real train and holdout files."""
    from fairdistill.settings import AuditSettings, load_settings

    settings = load_settings(args.config).audit if args.config else AuditSettings()
    if args.seed is not None:
        settings = settings.model_copy(update={"seed": args.seed})
    from fairdistill.audit import run_audit
    from fairdistill.ingest import read_table
    from fairdistill.report import summary_markdown, write_audit
    from fairdistill.spec import load_spec

    spec = load_spec(args.spec)
    tables = {
        role: read_table(_location(getattr(args, role)), spec)
        for role in ("train", "holdout", "synthetic")
    }
    run = {"synthetic": _location(args.synthetic), "seed": settings.seed}
    out = Path(args.out or f"audit-{spec.name}").resolve()
    if spec.modality == "image":  # the image audit and its report
        from models.image_audit import image_audit_parts

        run_audit, write_audit = image_audit_parts()
    outcome = run_audit(**tables, spec=spec, settings=settings, run=run, criterion=args.criterion)
    numbers, report = write_audit(outcome, out, spec, tables["train"], tables["synthetic"])
    print(summary_markdown(outcome, f"audit of {Path(args.synthetic).name}"))
    print(f"report: {report}\nnumbers: {numbers}")
    return EXIT_OK if outcome.passed else EXIT_GATE_FAILED


def serve(args: argparse.Namespace) -> int:
    from app.serve import start

    start()
    return EXIT_OK


def stop(args: argparse.Namespace) -> int:
    from app.serve import stop as stop_served

    stop_served()
    return EXIT_OK


def _decode_options(command: argparse.ArgumentParser, modes: tuple[str, ...]) -> None:
    command.add_argument("--seed", type=int, help="seed of sampling and decoding (default 0)")
    command.add_argument(
        "--mode",
        choices=modes,
        help="decode mode (default dp: labels with equal positive rates across groups; eo: "
        "labels for equalized odds; faithful: the data's bias)",
    )
    command.add_argument("--fairness", type=float, help="the label dial λ in [0, 1] (default 1)")
    command.add_argument(
        "--label-temperature", type=float, help="< 1 sharpens the label (default 1)"
    )


def build_parser() -> argparse.ArgumentParser:
    from fairdistill.settings import CRITERIA, DECODE_MODES

    parser = argparse.ArgumentParser(
        prog="fairdistill",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("refresh", help="ingest → validate → … → publish one dataset")
    which = run.add_mutually_exclusive_group()
    which.add_argument(
        "--dataset",
        default="adult",
        help="a built-in dataset: adult (default), compas, colored-mnist, colored-mnist-mod3",
    )
    which.add_argument("--spec", help="a dataset spec YAML file, for your own data")
    run.add_argument(
        "--source", help="the data file (CSV or Parquet), overriding the spec's `source`"
    )
    run.add_argument(
        "--config", help="YAML settings: sections teacher, student, sampler, generation, audit"
    )
    run.add_argument(
        "--dask",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run the tasks on Dask: a local cluster (no ADDRESS) or tcp://scheduler:8786 "
        "(needs the `dask` extra)",
    )
    run.set_defaults(handler=refresh)

    check = commands.add_parser(
        "audit", help="audit any synthetic table against real train/holdout"
    )
    check.add_argument("--train", required=True, help="real training table (CSV or Parquet)")
    check.add_argument(
        "--holdout", required=True, help="real holdout table, never seen by the generator"
    )
    check.add_argument("--synthetic", required=True, help="the synthetic table to audit")
    check.add_argument(
        "--spec", required=True, help="the dataset spec YAML (columns, target, sensitive)"
    )
    check.add_argument(
        "--out", help="folder for audit.json and report.html (default ./audit-<name>)"
    )
    check.add_argument("--config", help="YAML settings; its `audit` section sets the gate")
    check.add_argument("--seed", type=int, help="seed of the audit (default: the settings')")
    check.add_argument(
        "--criterion",
        choices=CRITERIA,
        default="dp",
        help="the fairness criterion the table was made for: dp (demographic parity, default) or "
        "eo (equalized odds); it picks the gate's fairness ratio and the fair reference",
    )
    check.set_defaults(handler=audit)

    more = commands.add_parser(
        "generate", help="more rows from a registered model, without retraining"
    )
    more.add_argument(
        "--model",
        required=True,
        help="e.g. models:/fairdistill-adult/1 or models:/fairdistill-adult@champion",
    )
    more.add_argument("--rows", type=int, required=True)
    more.add_argument("--out", default="synthetic.parquet", help="Parquet file to write")
    more.add_argument(
        "--train",
        help="the model's training rows (its run's lake/raw/<dataset>/<run_id>/train.parquet): "
        "rows unique in it are never copied, common ones at most as often as real data repeats them",
    )
    _decode_options(more, DECODE_MODES)
    more.set_defaults(handler=generate)

    twin = commands.add_parser(
        "repair", help="a fair twin of given real rows (not privacy-preserving)"
    )
    twin.add_argument("--model", required=True, help="e.g. models:/fairdistill-adult@champion")
    twin.add_argument("--spec", required=True, help="the dataset spec the rows follow")
    twin.add_argument("--input", required=True, help="rows to repair (CSV or Parquet)")
    twin.add_argument("--out", default="repaired.parquet", help="Parquet file to write")
    _decode_options(twin, ONE_ROW_MODES)
    twin.set_defaults(handler=repair)

    commands.add_parser(
        "serve",
        help="served mode: Prefect server + deployments + worker and MLflow server on 127.0.0.1",
    ).set_defaults(handler=serve)
    commands.add_parser(
        "stop", help="stop what `serve` started (worker first), remove the PID files"
    ).set_defaults(handler=stop)
    return parser


def main(argv: list[str] | None = None) -> int:
    configure_environment()  # before numpy/torch load: thread counts are read at import
    args = build_parser().parse_args(argv)
    from fairdistill.errors import FairdistillError, GateFailed

    try:
        return args.handler(args)
    except GateFailed as error:
        print(f"\nfairdistill: gate failed: {error}", file=sys.stderr)
        if error.metrics:
            print_key_numbers(error.metrics, file=sys.stderr)
        return EXIT_GATE_FAILED
    except FairdistillError as error:
        print(f"\nfairdistill: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR


def run() -> None:
    """The `fairdistill` command: `main`, then exit with its code. The objects left at exit are
    frozen out of the garbage collector's final passes, which took 3-4 s after a refresh (every
    object is still released as the interpreter ends)."""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
