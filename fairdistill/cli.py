"""`fairdistill` command line: run a refresh on Prefect's ephemeral API with local defaults."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fairdistill.settings import configure_environment


def _spec_from_args(args: argparse.Namespace):
    from fairdistill.spec import load_builtin, load_spec

    spec = load_spec(args.spec) if args.spec else load_builtin(args.dataset)
    if args.source:
        source = args.source if "://" in args.source else str(Path(args.source).resolve())
        spec = spec.model_copy(update={"source": source})
    return spec.absolute()


def refresh(args: argparse.Namespace) -> int:
    from flows.refresh import refresh as refresh_flow

    result = refresh_flow(dataset=_spec_from_args(args))
    print(
        f"\nrefresh of {result.dataset} finished (run {result.run_id}, fingerprint {result.fingerprint})"
    )
    print(f"  raw snapshot:      {result.raw_train}")
    print(f"                     {result.raw_holdout}")
    print(f"  validation report: {result.validation_report}")
    print(f"  MLflow run:        {result.mlflow_run_id} ({os.environ['MLFLOW_TRACKING_URI']})")
    print(f"  registered model:  {result.model_uri}")
    print(f"  synthetic table:   {result.synthetic_table}")
    return 0


def generate(args: argparse.Namespace) -> int:
    from fairdistill.generate import synthetic_rows, write_synthetic_table
    from fairdistill.settings import configure_torch_threads
    from fairdistill.tracking import load_bundle

    configure_torch_threads()
    chunks = synthetic_rows(
        load_bundle(args.model),
        args.rows,
        seed=args.seed,
        mode=args.mode,
        fairness=args.fairness,
        label_temperature=args.label_temperature,
    )
    rows, rate = write_synthetic_table(chunks, Path(args.out).resolve())
    print(f"wrote {rows} rows from {args.model} to {Path(args.out).resolve()} ({rate:,.0f} rows/s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fairdistill", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("refresh", help="ingest → validate → … → publish one dataset")
    which = run.add_mutually_exclusive_group()
    which.add_argument(
        "--dataset", default="adult", help="a built-in dataset: adult (default), compas"
    )
    which.add_argument("--spec", help="a dataset spec YAML file, for your own data")
    run.add_argument(
        "--source", help="the data file (CSV or Parquet), overriding the spec's `source`"
    )
    run.set_defaults(handler=refresh)

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
    more.add_argument("--seed", type=int, default=0)
    more.add_argument(
        "--mode",
        default="label-fair",
        choices=["label-fair", "all-fair", "faithful", "counterfactual"],
    )
    more.add_argument("--fairness", type=float, default=1.0, help="the label dial λ in [0, 1]")
    more.add_argument("--label-temperature", type=float, default=1.0)
    more.set_defaults(handler=generate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_environment()
    from fairdistill.errors import FairdistillError

    try:
        return args.handler(args)
    except FairdistillError as error:
        print(f"\nfairdistill: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
