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


def _settings_from_args(args: argparse.Namespace) -> dict:
    """Flow settings from a YAML file with optional sections teacher, student, sampler, generation,
    audit (the same fields as the Prefect form)."""
    import yaml
    from pydantic import ValidationError

    from fairdistill.errors import SpecError
    from flows.params import SETTINGS

    if not args.config:
        return {}
    path = Path(args.config).resolve()
    if not path.is_file():
        raise SpecError(f"settings file {path} does not exist; pass --config with a YAML file")
    data = yaml.safe_load(path.read_text()) or {}
    unknown = sorted(set(data) - set(SETTINGS))
    if unknown:
        raise SpecError(
            f"settings file {path}: unknown section(s) {unknown}; use {sorted(SETTINGS)}"
        )
    settings = {}
    for name, values in data.items():
        try:
            settings[name] = SETTINGS[name].model_validate(values)
        except ValidationError as error:
            problem = error.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            raise SpecError(f"settings file {path}: {name}.{where}: {problem['msg']}") from None
    return settings


def print_key_numbers(m: dict[str, float], file=sys.stdout) -> None:
    """The headline of an audit: synthetic-trained classifier on the real holdout vs real-trained."""
    print(
        f"  model-level DPR {m['tstr.hgb.dpr']:.3f} (real {m['trtr.hgb.dpr']:.3f}) · "
        f"TSTR AUROC {m['tstr.hgb.auroc']:.3f} (real {m['trtr.hgb.auroc']:.3f}) · "
        f"data DPR {m['data.synthetic.dpr']:.3f} (real {m['data.real.dpr']:.3f}) · "
        f"exact copies {m['privacy.exact_copy_rate']:.1%}",
        file=file,
    )


def refresh(args: argparse.Namespace) -> int:
    from flows.refresh import refresh as refresh_flow

    result = refresh_flow(dataset=_spec_from_args(args), **_settings_from_args(args))
    print(
        f"\nrefresh of {result.dataset} passed the audit gate and was published (run {result.run_id})"
    )
    print_key_numbers(result.metrics)
    print(f"  synthetic table:   {result.synthetic_table}")
    print(f"  audit report:      {result.report}")
    print(f"  audit numbers:     {result.audit}")
    print(f"  raw snapshot:      {Path(result.raw_train).parent}")
    print(f"  validation report: {result.validation_report}")
    print(f"  MLflow run:        {result.mlflow_run_id} ({os.environ['MLFLOW_TRACKING_URI']})")
    print(f"  registered model:  {result.model_uri} (@champion)")
    return 0


def generate(args: argparse.Namespace) -> int:
    from fairdistill.generate import synthetic_rows, write_synthetic_table
    from fairdistill.settings import configure_torch_threads
    from fairdistill.tracking import load_bundle

    configure_torch_threads("generate")
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


def repair(args: argparse.Namespace) -> int:
    """A fair twin of given rows (not privacy-preserving: row i comes from input row i)."""
    from fairdistill.ingest import normalise, read_source
    from fairdistill.lake import write_parquet
    from fairdistill.settings import configure_torch_threads
    from fairdistill.spec import load_spec
    from fairdistill.tracking import load_bundle

    configure_torch_threads("generate")
    spec = load_spec(args.spec)
    location = args.input if "://" in args.input else str(Path(args.input).resolve())
    rows = normalise(read_source(location, spec)[0], location, spec)
    twin = load_bundle(args.model).repair(
        rows, args.seed, fairness=args.fairness, label_temperature=args.label_temperature
    )
    out = write_parquet(twin, Path(args.out).resolve())
    print(
        f"wrote a fair twin of {twin.height} rows to {out} (not privacy-preserving: one row per input row)"
    )
    return 0


def audit(args: argparse.Namespace) -> int:
    """Audit any synthetic table (ours or another tool's) against real train and holdout files."""
    from fairdistill.audit import audit_table, check_gate, gate_as_dicts, gate_passed
    from fairdistill.ingest import normalise, read_source
    from fairdistill.lake import write_json
    from fairdistill.report import render_html, summary_markdown
    from fairdistill.spec import load_spec
    from flows.params import GateThresholds

    spec = load_spec(args.spec)
    tables = {}
    for role in ("train", "holdout", "synthetic"):
        location = str(Path(getattr(args, role)).resolve())
        tables[role] = normalise(read_source(location, spec)[0], location, spec)
    metrics = audit_table(**tables, spec=spec, random_state=args.seed)
    thresholds = GateThresholds()
    checks = check_gate(metrics, thresholds.as_dict())
    out = Path(args.out or f"audit-{spec.name}").resolve()
    run = {"synthetic": str(Path(args.synthetic).resolve()), "seed": args.seed}
    payload = {
        "run": run,
        "metrics": metrics,
        "thresholds": thresholds.as_dict(),
        "gate": gate_as_dicts(checks),
        "passed": gate_passed(checks),
    }
    write_json(payload, out / "audit.json")
    (out / "report.html").write_text(
        render_html(
            metrics,
            checks,
            spec,
            tables["train"],
            tables["synthetic"],
            run=run,
            min_dpr=thresholds.min_model_dpr,
        )
    )
    print(summary_markdown(metrics, checks, f"audit of {Path(args.synthetic).name}"))
    print(f"report: {out / 'report.html'}\nnumbers: {out / 'audit.json'}")
    return 0 if payload["passed"] else 1


def serve(args: argparse.Namespace) -> int:
    from fairdistill.serve import start

    start()
    return 0


def stop(args: argparse.Namespace) -> int:
    from fairdistill.serve import stop as stop_served

    stop_served()
    return 0


def build_parser() -> argparse.ArgumentParser:
    from flows.params import GenerationConfig

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
    run.add_argument(
        "--config", help="YAML settings: sections teacher, student, sampler, generation, audit"
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
    check.add_argument("--seed", type=int, default=0)
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
    defaults = GenerationConfig()
    more.add_argument("--seed", type=int, default=defaults.seed)
    more.add_argument(
        "--mode",
        default=defaults.mode,
        choices=["label-fair", "all-fair", "faithful", "counterfactual"],
    )
    more.add_argument(
        "--fairness", type=float, default=defaults.fairness, help="the label dial λ in [0, 1]"
    )
    more.add_argument("--label-temperature", type=float, default=defaults.label_temperature)
    more.set_defaults(handler=generate)

    twin = commands.add_parser(
        "repair", help="a fair twin of given real rows (not privacy-preserving)"
    )
    twin.add_argument("--model", required=True, help="e.g. models:/fairdistill-adult@champion")
    twin.add_argument("--spec", required=True, help="the dataset spec the rows follow")
    twin.add_argument("--input", required=True, help="rows to repair (CSV or Parquet)")
    twin.add_argument("--out", default="repaired.parquet", help="Parquet file to write")
    twin.add_argument("--seed", type=int, default=defaults.seed)
    twin.add_argument("--fairness", type=float, default=defaults.fairness)
    twin.add_argument("--label-temperature", type=float, default=defaults.label_temperature)
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
        return 1
    except FairdistillError as error:
        print(f"\nfairdistill: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
