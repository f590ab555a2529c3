"""`gatekeeper`: run the gate, or its demo, from the command line.

Start-up stays light: Prefect, MLflow and GX are imported only by the commands that use them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from gatekeeper.errors import GatekeeperError

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def _console():
    from rich.console import Console

    return Console(stderr=False, highlight=False)


def _quiet_environment() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


class _NoTraceback(logging.Filter):
    """Keep Prefect's log line of a failure, drop its traceback (shown with --debug)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        if "\nTraceback" in str(record.msg):
            record.msg = str(record.msg).split("\nTraceback")[0]
        return True


def run_gate(config, debug: bool = False) -> dict[str, Any]:
    """Run the retraining_gate flow once (ephemeral Prefect API unless PREFECT_API_URL is set)."""
    _quiet_environment()
    from flows.retraining_gate import retraining_gate

    if not debug:
        for name in [n for n in logging.root.manager.loggerDict if n.startswith("prefect")]:
            for handler in logging.getLogger(name).handlers:
                if not any(isinstance(f, _NoTraceback) for f in handler.filters):
                    handler.addFilter(_NoTraceback())
    return retraining_gate(config)


def _print_decision(result: dict[str, Any], output: Path) -> None:
    """The decision, its reasons and where to look, for a person at a terminal."""
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    from gatekeeper.report import reason_text

    console = _console()
    colour = {
        "promoted": "green",
        "bootstrap": "green",
        "rejected": "red",
        "blocked": "yellow",
        "needs_review": "magenta",
    }.get(result["decision"], "cyan")
    lines = [f"[bold {colour}]{result['decision'].upper()}[/]  model {result['model_name']}"]
    if result.get("candidate_version"):
        lines.append(
            f"candidate version {result['candidate_version']}, champion before this run: "
            f"{result.get('champion_version') or 'none'}"
        )
    overall = result.get("overall") or {}
    if overall.get("candidate") is not None:
        champ = overall.get("champion")
        lines.append(
            f"{result['primary_metric']}: champion {champ if champ is None else f'{champ:.4f}'}"
            f" -> candidate {overall['candidate']:.4f} on {overall['n']} rows"
        )
    lines.append("")
    lines += [escape(f"- {reason_text(r)}") for r in result.get("reasons", [])]
    if result.get("quarantine"):
        lines.append(escape(f"\nquarantined batch: {result['quarantine']}"))
    if result.get("mlflow_run_id"):
        lines.append(
            f"\nMLflow run: {result['mlflow_run_id']}   Prefect flow run: {result.get('prefect_flow_run_id')}"
        )
    lines.append(f"decision file: {output}")
    console.print(Panel("\n".join(lines), title="retraining gate", expand=False))
    keyed = [s for s in result.get("segments", []) if s.get("key") or s.get("status") == "regressed"]
    if keyed:
        table = Table(title="key and regressed segments")
        for col in ("segment", "key", "n", "champion", "candidate", "delta", "status"):
            table.add_column(col, no_wrap=col != "segment", overflow="fold")
        for s in keyed[:15]:
            table.add_row(
                *[
                    escape(
                        "-"
                        if s.get(c) is None
                        else f"{s[c]:.4f}"
                        if isinstance(s.get(c), float)
                        else str(s.get(c))
                    )
                    for c in ("segment", "key", "n", "champion", "candidate", "delta", "status")
                ]
            )
        console.print(table)


def cmd_run(args: argparse.Namespace) -> int:
    from gatekeeper.config import load_config
    from gatekeeper.report import write_decision

    overrides = {"workdir": args.workdir} if args.workdir else {}
    config = load_config(args.config, **overrides)
    output = Path(args.output or Path(config.workdir) / "decisions" / f"{config.model_name}.json")
    result = run_gate(config, args.debug)
    write_decision(result, output)
    _print_decision(result, output)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from gatekeeper import simulate
    from gatekeeper.demo import demo_config, write_config
    from gatekeeper.report import write_decision

    workdir = Path(args.workdir or ".gatekeeper").resolve()
    scenario = args.scenario or "improves"
    model = f"demo-{scenario}"
    console = _console()
    console.print(
        f"[bold]gatekeeper demo[/]: scenario [cyan]{scenario}[/] "
        f"({simulate.SCENARIOS[scenario]})\nworking folder {workdir}"
    )
    steps: list[tuple[str, Any]] = []
    boot_files = simulate.write_bootstrap(workdir / "demo" / model / "bootstrap")
    boot = demo_config(model, boot_files, workdir)
    if _needs_bootstrap(boot):
        steps.append(("bootstrap", boot))
    else:
        console.print(f"{model} already has a champion in {workdir}: skipping the bootstrap run")
    files = simulate.write_scenario(scenario, workdir / "demo" / model / scenario)
    steps.append((scenario, demo_config(model, files, workdir, scenario)))
    for i, (name, config) in enumerate(steps, 1):
        config_path = write_config(config, workdir / "demo" / model / name / "gate.yaml")
        console.rule(f"run {i}/{len(steps)}: {name}  (config: {config_path})")
        result = run_gate(config, args.debug)
        output = (
            Path(args.output)
            if args.output and i == len(steps)
            else workdir / "decisions" / f"{model}-{name}.json"
        )
        write_decision(result, output)
        _print_decision(result, output)
    return EXIT_OK


def _needs_bootstrap(config) -> bool:
    _quiet_environment()
    from gatekeeper.registry import current_champion_version

    return current_champion_version(config) is None


def cmd_compare_scores(args: argparse.Namespace) -> int:
    """Champion against candidate from a file of scores: no Prefect, no MLflow, no GX."""
    import numpy as np

    from gatekeeper.comparison import gather_evidence
    from gatekeeper.data import read_table
    from gatekeeper.errors import ConfigError, DataValidationError, did_you_mean
    from gatekeeper.paired import PairedRows
    from gatekeeper.policy import decide
    from gatekeeper.report import render_markdown, write_decision

    frame = read_table(args.scores)
    segments = [s.strip() for s in (args.segments or "").split(",") if s.strip()]
    for flag, col in [
        ("--label", args.label),
        ("--champion", args.champion),
        ("--candidate", args.candidate),
        *[("--segments", c) for c in segments],
    ]:
        if col not in frame.columns:
            raise ConfigError(
                f"{flag} must name a column of {args.scores}; got {col!r}{did_you_mean(col, frame.columns)}"
            )
    keys = []
    for text in args.key or []:
        pairs = [part.split("=", 1) for part in text.split("&")]
        if any(len(p) != 2 for p in pairs):
            raise ConfigError(f"--key must look like 'col=value' or 'a=x&b=y'; got {text!r}")
        keys.append(
            {"where": {k.strip(): v.strip() for k, v in pairs}, "max_regression": args.max_regression}
        )
    metrics = [m.strip() for m in args.metric.split(",") if m.strip()]
    config = _policy_from_options(
        {
            "primary_metric": metrics[0],
            "secondary_metrics": metrics[1:],
            "segments": segments,
            "key_segments": keys,
            "min_improvement": args.min_improvement,
            "min_segment_rows": args.min_segment_rows,
            "statistics": {
                "confidence_level": args.level,
                "n_resamples": args.resamples,
                "seed": args.seed,
                "correction": args.correction,
            },
        }
    )
    labels = frame[args.label].to_numpy()
    classes = sorted(set(labels.tolist()), key=str)
    if len(classes) != 2:
        raise DataValidationError(
            f"--label {args.label!r} must hold two classes; got {len(classes)}: {classes[:5]}"
        )
    scores = {}
    for flag, col in (("--champion", args.champion), ("--candidate", args.candidate)):
        values = frame[col].to_numpy(dtype=float)
        if np.isnan(values).any() or values.min() < 0 or values.max() > 1:
            raise DataValidationError(
                f"{flag} column {col!r} must hold probabilities of the positive class in "
                f"[0, 1] with no missing values; saw min {np.nanmin(values):.4g}, "
                f"max {np.nanmax(values):.4g}, {int(np.isnan(values).sum())} missing"
            )
        scores[flag] = np.column_stack([1 - values, values])
    rows = PairedRows.from_labels(
        labels, scores["--candidate"], scores["--champion"], classes, args.positive_label
    )
    evidence = gather_evidence(
        frame,
        rows,
        config,
        model_name=Path(args.scores).stem,
        champion_version=args.champion,
        candidate_version=args.candidate,
    )
    result = decide(evidence, config)
    output = Path(args.output or "comparison.json")
    write_decision(result, output)
    if args.markdown:
        Path(args.markdown).write_text(render_markdown(result))
    _print_decision(result.to_dict(), output)
    return EXIT_OK


def _policy_from_options(raw: dict[str, Any]):
    from pydantic import ValidationError

    from gatekeeper.config import PolicyConfig, config_error_from

    try:
        return PolicyConfig.model_validate(raw)
    except ValidationError as exc:
        raise config_error_from(exc, "compare-scores options") from None


def cmd_init_expectations(args: argparse.Namespace) -> int:
    import json

    from gatekeeper.data import read_table
    from gatekeeper.errors import ConfigError
    from gatekeeper.expectations import build_suite
    from gatekeeper.suite_builder import learn_suite

    out = Path(args.out)
    if out.suffix != ".json":
        raise ConfigError(f"--out must be a .json file named after the suite; got {str(out)!r}")
    if out.exists() and not args.force:
        raise ConfigError(f"{str(out)!r} exists; pass --force to overwrite it (nothing was written)")
    frame = read_table(args.data)
    try:
        suite = learn_suite(
            frame, out.stem, target=args.target, id_columns=tuple(args.id or ()), source=args.data
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    build_suite(suite, str(out))  # GX must load every entry, or nothing is written
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(suite, indent=2) + "\n")
    _console().print(
        f"wrote {len(suite['expectations'])} expectations for {frame.shape[1]} columns to {out}; "
        "review them before use"
    )
    return EXIT_OK


def _registry_uri(args: argparse.Namespace) -> str:
    return (
        args.tracking_uri
        or os.environ.get("MLFLOW_TRACKING_URI")
        or ("sqlite:///" + str(Path(args.workdir or ".gatekeeper").resolve() / "mlflow.db"))
    )


def cmd_rollback(args: argparse.Namespace) -> int:
    _quiet_environment()
    from flows.rollback import rollback_champion

    result = rollback_champion(args.model, _registry_uri(args), args.reason, args.by)
    _console().print(
        f"{args.model}: version {result['restored']} is champion again; version "
        f"{result['demoted']} carries alias rolled-back (by {result['by']}: {result['reason']})"
    )
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    _quiet_environment()
    import json

    from rich.table import Table

    from gatekeeper.registry import status

    result = status(_registry_uri(args), args.model, args.last)
    if args.json:
        print(json.dumps(result, indent=2))
        return EXIT_OK
    console = _console()
    aliases = ", ".join(f"{a}={v}" for a, v in sorted(result["aliases"].items())) or "none"
    console.print(f"[bold]{args.model}[/]  aliases: {aliases}")
    table = Table(title="latest versions")
    for col in ("version", "decision", "review", "created", "reasons"):
        table.add_column(col, overflow="fold")
    for v in result["versions"]:
        table.add_row(v["version"], v["decision"], v["review"], v["created"], v["reasons"][:200])
    console.print(table)
    return EXIT_OK


def cmd_review(args: argparse.Namespace) -> int:
    _quiet_environment()
    from gatekeeper.registry import settle_review

    uri = _registry_uri(args)
    said, _ = settle_review(
        uri,
        args.model,
        str(args.version),
        approve=args.command == "approve",
        comment=args.comment or "",
        reviewer=args.by,
    )
    _console().print(f"{args.model}: {said} (recorded on the model version in {uri})")
    return EXIT_OK


def cmd_labels_arrived(args: argparse.Namespace) -> int:
    """Record a batch of labels and emit the event that triggers the model's gate deployment."""
    _quiet_environment()
    import re

    from gatekeeper.errors import ConfigError

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", args.model):
        raise ConfigError(
            f"--model must be a registered model name (letters, digits, . _ -); got {args.model!r}"
        )
    from prefect.settings import get_current_settings

    api = get_current_settings().api.url
    if not api:
        raise ConfigError(
            "labels-arrived emits an event for a Prefect server's deployments, but PREFECT_API_URL is "
            "not set (got none): start `prefect server start` and set PREFECT_API_URL, e.g. "
            "http://127.0.0.1:4200/api"
        )
    from flows.label_arrival import LABELS_ARRIVED, label_arrival

    record = label_arrival(args.model, args.batch)
    _console().print(
        f"{args.model}: {record['rows']} labelled rows in {record['batch']} recorded; "
        f"emitted {LABELS_ARRIVED} (event {record['event_id']}) to {api}"
    )
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    from gatekeeper.simulate import SCENARIOS

    parser = argparse.ArgumentParser(
        prog="gatekeeper",
        description=("Decide whether a retrained model may replace the champion in production."),
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the gate on your data, as described by a YAML config")
    run.add_argument("--config", required=True, help="path to gate.yaml")
    run.add_argument("--workdir", help="working folder (default: the config's, else ./.gatekeeper)")
    run.add_argument("--output", help="where to write decision JSON (default: WORKDIR/decisions/MODEL.json)")
    run.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="the whole story on simulated data, nothing to set up")
    demo.add_argument("--scenario", choices=sorted(SCENARIOS), help="default: bootstrap, then 'improves'")
    demo.add_argument("--workdir", help="working folder (default ./.gatekeeper)")
    demo.add_argument("--output", help="where to write the last run's decision JSON")
    demo.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    demo.set_defaults(func=cmd_demo)

    compare = sub.add_parser(
        "compare-scores",
        help="compare two models from a file of their scores (offline: no Prefect, no MLflow)",
    )
    compare.add_argument("--scores", required=True, help="CSV or Parquet: one row per example")
    compare.add_argument("--label", required=True, help="column with the true label (two classes)")
    compare.add_argument("--champion", required=True, help="column with the champion's P(positive)")
    compare.add_argument("--candidate", required=True, help="column with the candidate's P(positive)")
    compare.add_argument("--segments", help="comma-separated segment columns")
    compare.add_argument(
        "--metric", default="roc_auc", help="primary metric, then secondary ones, comma-separated"
    )
    compare.add_argument(
        "--key", action="append", help="a key segment, 'col=value' or 'a=x&b=y' (repeatable)"
    )
    compare.add_argument("--max-regression", type=float, default=0.0, help="key segments' tolerance")
    compare.add_argument("--min-improvement", type=float, default=0.0)
    compare.add_argument("--min-segment-rows", type=int, default=200)
    compare.add_argument("--positive-label", help="the positive class (default: the second, sorted)")
    compare.add_argument("--level", type=float, default=0.95, help="confidence level")
    compare.add_argument("--resamples", type=int, default=1000, help="paired bootstrap resamples")
    compare.add_argument("--correction", choices=["holm", "bh", "none"], default="holm")
    compare.add_argument("--seed", type=int, default=0)
    compare.add_argument("--output", help="JSON result (default ./comparison.json)")
    compare.add_argument("--markdown", help="also write the markdown report here")
    compare.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    compare.set_defaults(func=cmd_compare_scores)

    init = sub.add_parser("init-expectations", help="learn a starter GX suite from reference data")
    init.add_argument("--data", required=True, help="reference data (CSV or Parquet)")
    init.add_argument("--target", help="the label column (its values become an exact value set)")
    init.add_argument("--id", action="append", help="an id column: unique, never null (repeatable)")
    init.add_argument("--out", required=True, help="expectations/NAME.json (the file stem is the suite name)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    init.set_defaults(func=cmd_init_expectations)

    for verb, what in (
        ("approve", "promote a candidate that is waiting for review"),
        ("reject", "reject a candidate that is waiting for review; the champion stays"),
    ):
        review = sub.add_parser(verb, help=what)
        review.add_argument("--model", required=True, help="registered model name")
        review.add_argument("--version", required=True, help="the candidate's model version")
        review.add_argument("--comment", help="why (recorded on the model version)")
        review.add_argument("--by", help="who decides (default: $GATEKEEPER_REVIEWER, else the login name)")
        review.add_argument(
            "--tracking-uri", help="MLflow (default: $MLFLOW_TRACKING_URI, else the workdir's)"
        )
        review.add_argument("--workdir", help="working folder (default ./.gatekeeper)")
        review.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        review.set_defaults(func=cmd_review)

    arrived = sub.add_parser(
        "labels-arrived", help="record a batch of new labels and trigger the model's gate deployment"
    )
    arrived.add_argument("--model", required=True, help="registered model name (the event's resource)")
    arrived.add_argument("--batch", required=True, help="the labelled batch: a path or fsspec URL")
    arrived.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    arrived.set_defaults(func=cmd_labels_arrived)

    back = sub.add_parser("rollback", help="move champion back to previous-champion, recording who and why")
    back.add_argument("--model", required=True)
    back.add_argument("--reason", required=True, help="why (recorded on both versions and in the Prefect UI)")
    back.add_argument("--by", help="who (default: $GATEKEEPER_REVIEWER, else the login name)")
    state = sub.add_parser("status", help="champion, challenger and the latest decisions of a model")
    state.add_argument("--model", required=True)
    state.add_argument("--last", type=int, default=10, help="how many versions to list")
    state.add_argument("--json", action="store_true", help="print JSON instead of a table")
    for command, func in ((back, cmd_rollback), (state, cmd_status)):
        command.add_argument(
            "--tracking-uri", help="MLflow (default: $MLFLOW_TRACKING_URI, else the workdir's)"
        )
        command.add_argument("--workdir", help="working folder (default ./.gatekeeper)")
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
        command.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one readable paragraph; the traceback only with --debug
        if args.debug:
            traceback.print_exc()
        kind = "error" if isinstance(exc, GatekeeperError) else f"unexpected error ({type(exc).__name__})"
        print(f"gatekeeper {args.command}: {kind}: {exc}", file=sys.stderr)
        if not isinstance(exc, GatekeeperError) and not args.debug:
            print("run again with --debug for the traceback", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
