"""`gatekeeper`: parse, call, print. Nothing else.

Start-up stays light: Prefect, MLflow and GX are imported only by the commands that use them.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import copy
import importlib
import logging
import os
import re
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli import api
from cli.printing import (
    console,
    print_custody,
    print_decision,
    print_fleet,
    print_status,
    print_where_to_look,
    write_fleet,
)
from cli.webhook import add_webhook_commands
from gatekeeper import __version__
from gatekeeper.errors import ConfigError, GatekeeperError

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
FLOW_COMMANDS = {"run", "demo", "adopt", "rollback"}  # the commands that run a Prefect flow
Command = Callable[[argparse.Namespace], int]


def _quiet_environment() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    for name in ("EventsWorker", "APILogWorker"):  # Prefect's workers log as these names
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DrainProgress) for f in logger.filters):
            logger.addFilter(_DrainProgress())


class _DrainProgress(logging.Filter):
    """Drops Prefect's "Still processing items: N items remaining..." at exit: the run's last events and
    logs are still sent (Prefect drains its workers at exit and waits), the line only said so, after
    the gate's own last line (an error must be the last line). It shows up whenever the drain starts
    with a few items queued, more often since flows on the private API send no heartbeats (whose
    thread's join used to give the queue ~0.5 s). Every other line of those loggers passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Still processing items")


def _without_traceback(record: logging.LogRecord) -> logging.LogRecord:
    """A copy of `record` without its traceback (the record itself stays whole for other handlers)."""
    quiet = copy.copy(record)
    quiet.exc_info, quiet.exc_text = None, None
    if "\nTraceback" in str(quiet.msg):
        quiet.msg = str(quiet.msg).split("\nTraceback")[0]
    return quiet


def _preload(*modules: str) -> None:
    """Import `modules` on a background thread: they load while the main thread waits for the Prefect
    API to boot (~2 s idle on the bank example). A failure is left to the real import to report."""

    def load() -> None:
        for module in modules:
            with contextlib.suppress(Exception):
                importlib.import_module(module)

    threading.Thread(target=load, name="preload", daemon=True).start()


def run_gate(config: Any, debug: bool = False) -> Any:
    """Run the retraining_gate flow once (a private Prefect API unless PREFECT_API_URL is set)."""
    _quiet_environment()
    api.start()  # boots while the flow's imports load
    suites = any(getattr(config.expectations, table) for table in ("train", "new_labels", "evaluation"))
    # ~2.5 s (GX) and ~0.5 s (the report's plot) of imports, in the time the API takes to boot
    _preload(
        *(["great_expectations"] if suites else []), "matplotlib.figure", "matplotlib.backends.backend_agg"
    )
    from flows.retraining_gate import retraining_gate

    api.wait_ready()

    if not debug:
        quiet_prefect_tracebacks()
    with api.flow_settings():
        return retraining_gate(config)


def quiet_prefect_tracebacks() -> None:
    """Prefect's handlers (its console handler sits on the root logger, its API handlers on its own
    loggers) print and store a failure's line without its traceback (shown with --debug). Each
    handles a copy of the record: a filter that cleared the record itself cleared it for every
    handler after it, pytest's and other libraries' included (idempotent)."""
    loggers = [logging.getLogger(n) for n in logging.root.manager.loggerDict if n.startswith("prefect")]
    for logger in [logging.getLogger(), *loggers]:
        for handler in logger.handlers:
            if getattr(handler, "_gatekeeper_quiet", False) or not type(handler).__module__.startswith(
                "prefect"
            ):
                continue
            handle = handler.handle

            def quiet_handle(record: logging.LogRecord, handle: Any = handle) -> Any:
                return handle(_without_traceback(record))

            handler.handle = quiet_handle  # type: ignore[method-assign]
            handler._gatekeeper_quiet = True  # type: ignore[attr-defined]


def _registry_uri(args: argparse.Namespace) -> str:
    return (
        args.tracking_uri
        or os.environ.get("MLFLOW_TRACKING_URI")
        or ("sqlite:///" + str(Path(args.workdir or ".gatekeeper").resolve() / "mlflow.db"))
    )


def _existing_registry(args: argparse.Namespace) -> str:
    """The registry a command reads or changes, which must exist: a local sqlite file that is not
    there means a wrong --workdir, and connecting would create an empty registry in its place."""
    uri = _registry_uri(args)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        where = (
            "--tracking-uri"
            if args.tracking_uri
            else "MLFLOW_TRACKING_URI"
            if (os.environ.get("MLFLOW_TRACKING_URI"))
            else "--workdir"
        )
        raise ConfigError(
            f"{where}: no registry at {uri} (the file does not exist); expected the --workdir of an "
            "earlier gate run (default ./.gatekeeper) or the --tracking-uri it used"
        )
    return uri


# ---------------------------------------------------------------- commands


def cmd_run(args: argparse.Namespace) -> int:
    from gatekeeper.config import load_config
    from gatekeeper.fleet import is_fleet_file
    from gatekeeper.report.markdown import write_decision

    if is_fleet_file(args.config):
        return run_fleet_command(args)
    config = load_config(args.config, workdir=args.workdir, candidate=args.candidate)
    output = Path(args.output or Path(config.workdir) / "decisions" / f"{config.model_name}.json")
    decision = run_gate(config, args.debug)
    print_decision(decision, write_decision(decision, output), config.resolved_tracking_uri)
    print_where_to_look(decision, config.resolved_tracking_uri)
    return EXIT_OK


def run_fleet_command(args: argparse.Namespace) -> int:
    """`gatekeeper run --config fleet.yaml`: every model of the fleet in one flow run."""
    from gatekeeper.fleet import load_fleet
    from gatekeeper.report.markdown import write_decision

    if args.candidate:
        raise ConfigError(
            "--candidate names one model's version; a fleet file gates many: give it in the "
            "model's entry (`candidate:`)"
        )
    spec, _ = load_fleet(args.config)  # a bad file is named before any server starts
    _quiet_environment()
    api.start()
    _preload("great_expectations", "matplotlib.figure", "matplotlib.backends.backend_agg")
    from flows.fleet import run_fleet

    api.wait_ready()
    if not args.debug:
        quiet_prefect_tracebacks()
    with api.flow_settings():
        result = run_fleet(args.config, args.workdir)
    folder = Path(args.output or Path(args.workdir or ".gatekeeper") / "decisions").resolve()
    for outcome in result.outcomes:
        if outcome.decision is not None:
            write_decision(outcome.decision, folder / f"{outcome.model_name}.json")
    print_fleet(result, write_fleet(result, folder / f"fleet-{spec.fleet.name}.md"))
    return EXIT_OK


def cmd_adopt(args: argparse.Namespace) -> int:
    """Record a hand-promoted champion's performance on the config's evaluation rows as its reference."""
    from gatekeeper.config import load_config

    config = load_config(args.config, workdir=args.workdir)
    if args.model and args.model != config.model_name:
        raise ConfigError(
            f"--model {args.model!r} is not the config's model_name {config.model_name!r}: "
            "give the config of the model to adopt"
        )
    _quiet_environment()
    api.start()
    from flows.adoption import adopt

    api.wait_ready()

    with api.flow_settings():
        result = adopt(config, args.version)
    segments = result["segments"]
    console().print(
        f"adopted {result['model_name']} version {result['version']} (flavor {result['flavor']}): "
        f"{result['metric']} {result['overall']:.4f} on {result['rows']} evaluation rows, "
        f"{len(segments)} segment(s) recorded as its reference; triage compares against it from now on"
    )
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from gatekeeper.demo import simulate
    from gatekeeper.demo.scenarios import demo_config, write_config
    from gatekeeper.demo.worlds import WORLD_SCENARIOS
    from gatekeeper.registry.versions import current_champion_version
    from gatekeeper.report.markdown import write_decision

    workdir = Path(args.workdir or ".gatekeeper").resolve()
    scenario = args.scenario or "improves"
    model = f"demo-{scenario}"
    out = console()
    out.print(
        f"[bold]gatekeeper demo[/]: scenario [cyan]{scenario}[/] ({simulate.SCENARIOS[scenario]})\n"
        f"working folder {workdir}"
    )
    steps = []
    boot_files = simulate.write_bootstrap(workdir / "demo" / model / "bootstrap", scenario=scenario)
    boot = demo_config(model, boot_files, workdir, scenario if scenario in WORLD_SCENARIOS else None)
    _quiet_environment()
    if current_champion_version(boot) is None:
        steps.append(("bootstrap", boot))
    else:
        out.print(f"{model} already has a champion in {workdir}: skipping the bootstrap run")
    files = simulate.write_scenario(scenario, workdir / "demo" / model / scenario)
    steps.append((scenario, demo_config(model, files, workdir, scenario)))
    for i, (name, config) in enumerate(steps, 1):
        config_path = write_config(config, workdir / "demo" / model / name / "gate.yaml")
        out.rule(f"run {i}/{len(steps)}: {name}  (config: {config_path})")
        decision = run_gate(config, args.debug)
        last = args.output and i == len(steps)
        output = Path(args.output) if last else workdir / "decisions" / f"{model}-{name}.json"
        print_decision(decision, write_decision(decision, output), config.resolved_tracking_uri)
    print_where_to_look(decision, config.resolved_tracking_uri)
    return EXIT_OK


def cmd_compare_scores(args: argparse.Namespace) -> int:
    """Champion against candidate from a file of scores: no Prefect, no MLflow, no GX."""
    # One BLAS thread (before numpy loads): the comparison's products are small (resamples x bins),
    # and OpenBLAS's extra threads only spin, taking a shared machine's cores from the main one.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from gatekeeper.decide.scores import options_policy, read_and_compare_scores
    from gatekeeper.report.markdown import render_markdown, write_decision

    policy = options_policy(
        metrics=[m.strip() for m in args.metric.split(",") if m.strip()],
        segments=[s.strip() for s in (args.segments or "").split(",") if s.strip()],
        keys=args.key or [],
        max_regression=args.max_regression,
        min_improvement=args.min_improvement,
        min_segment_rows=args.min_segment_rows,
        level=args.level,
        resamples=args.resamples,
        seed=args.seed,
        correction=args.correction,
        time_column=args.time_column,
        cluster_column=args.cluster_column,
    )
    shared = {
        "label": args.label,
        "champion": args.champion,
        "candidate": args.candidate,
        "policy": policy,
        "positive_label": args.positive_label,
        "model_name": Path(args.scores.rstrip("/")).stem.replace("*", "") or "scores",
    }
    if args.engine == "dask":
        from gatekeeper.decide.on_dask import DaskCompute, compare_scores_on_dask

        compute = DaskCompute(args.address, args.workers, args.memory_limit)
        decision = compare_scores_on_dask(args.scores, compute=compute, progress=console().print, **shared)
    else:
        decision = read_and_compare_scores(args.scores, **shared)
    output = write_decision(decision, Path(args.output or "comparison.json"))
    if args.markdown:
        Path(args.markdown).write_text(render_markdown(decision))
    print_decision(decision, output)
    return EXIT_OK


def cmd_init_expectations(args: argparse.Namespace) -> int:
    from gatekeeper.data.starter import write_starter_suite

    said = write_starter_suite(
        args.data,
        args.out,
        target=args.target,
        id_columns=tuple(args.id or ()),
        force=args.force,
        min_rows=args.min_rows,
    )
    console().print(said)
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace) -> int:
    _quiet_environment()
    api.start()
    from flows.rollback import rollback_champion

    api.wait_ready()

    with api.flow_settings():
        result = rollback_champion(args.model, _existing_registry(args), args.reason, args.who)
    console().print(
        f"{args.model}: version {result['restored']} is champion again; version "
        f"{result['demoted']} carries alias rolled-back (by {result['by']}: {result['reason']})"
    )
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    _quiet_environment()
    import json

    from gatekeeper.registry.review import status

    result = status(_existing_registry(args), args.model, args.last)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_status(result)
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    """Is the champion where the gate put it, on a record that still holds? Exit 1 when not."""
    _quiet_environment()
    import json

    from gatekeeper.registry.custody import verify

    result = verify(_existing_registry(args), args.model)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_custody(result)
    return EXIT_OK if result["ok"] else EXIT_ERROR


def cmd_recover(args: argparse.Namespace) -> int:
    """Complete or undo an alias move that a killed process left half done."""
    _quiet_environment()
    from gatekeeper.registry.custody import recover_moves

    console().print(recover_moves(_existing_registry(args), args.model))
    return EXIT_OK


def cmd_review(args: argparse.Namespace) -> int:
    _quiet_environment()
    from gatekeeper.registry.review import settle_review

    uri = _existing_registry(args)
    said, _ = settle_review(
        uri,
        args.model,
        str(args.version),
        approve=args.command == "approve",
        comment=args.comment or "",
        reviewer=args.who,
    )
    console().print(f"{args.model}: {said} (recorded on the model version in {uri})")
    return EXIT_OK


def cmd_automations(args: argparse.Namespace) -> int:
    """Install the shipped automations (notify on a blocked batch, on a candidate waiting for review)."""
    _quiet_environment()
    from cli.automations import install

    for line in install(args.dir, args.block, args.webhook_url):
        console().print(line)
    return EXIT_OK


def cmd_labels_arrived(args: argparse.Namespace) -> int:
    """Record a batch of labels and emit the event that triggers the model's gate deployment."""
    _quiet_environment()
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
    console().print(
        f"{args.model}: {record['rows']} labelled rows in {record['batch']} recorded; "
        f"emitted {LABELS_ARRIVED} (event {record['event_id']}) to {api}"
    )
    return EXIT_OK


# ---------------------------------------------------------------- the parser

EXAMPLES = {  # one per subcommand, shown by `gatekeeper COMMAND --help` (tests parse each one)
    "run": "gatekeeper run --config examples/bank_marketing/gate.yaml",
    "adopt": "gatekeeper adopt --config gate.yaml --version 7",
    "demo": "gatekeeper demo --scenario hurts-key-segment",
    "compare-scores": "gatekeeper compare-scores --scores scores.csv --label y --champion p_old "
    "--candidate p_new --segments country --key country=NZ",
    "init-expectations": "gatekeeper init-expectations --data reference.csv --target y "
    "--out expectations/my_suite.json",
    "approve": "gatekeeper approve --model fraud-detector --version 4 --who \"$USER\" --comment 'gain holds'",
    "reject": "gatekeeper reject --model fraud-detector --version 4 --who \"$USER\" --comment 'hurts NZ'",
    "automations": "gatekeeper automations install --webhook-url https://hooks.example.com/gate",
    "labels-arrived": "gatekeeper labels-arrived --model bank-term-deposit --batch data/new_labels.csv",
    "rollback": "gatekeeper rollback --model fraud-detector --reason 'alerts doubled since v4'",
    "status": "gatekeeper status --model fraud-detector",
    "verify": "gatekeeper verify --model fraud-detector",
    "recover": "gatekeeper recover --model fraud-detector",
    "webhook serve": "gatekeeper webhook serve --port 8787 --secret-env GATE_WEBHOOK_SECRET",
    "webhook register": "gatekeeper webhook register --url http://gate-host:8787/mlflow-webhook "
    "--secret-env GATE_WEBHOOK_SECRET",
}

REGISTRY_HELP = {
    "--tracking-uri": "MLflow (default: $MLFLOW_TRACKING_URI, else the workdir's)",
    "--workdir": "working folder (default ./.gatekeeper)",
}


def build_parser() -> argparse.ArgumentParser:
    from gatekeeper.demo import SCENARIOS

    common = argparse.ArgumentParser(add_help=False)  # --debug after the command, as before it
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    parser = argparse.ArgumentParser(
        prog="gatekeeper",
        description="Decide whether a retrained model may replace the champion in production.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"gatekeeper {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, func: Command, help: str, *options: tuple[str, dict[str, Any]]) -> Any:
        p = sub.add_parser(
            name,
            help=help,
            description=help[0].upper() + help[1:] + ".",
            epilog=f"example:\n  {EXAMPLES[name]}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[common],
        )
        for flag, kwargs in options:
            aliases = ["--by"] if flag == "--who" else []  # --by: the flag's name before --who
            p.add_argument(flag, *aliases, **kwargs)
        p.set_defaults(func=func)
        return p

    def registry(*extra: tuple[str, dict[str, Any]]) -> tuple[tuple[str, dict[str, Any]], ...]:
        return (*extra, *((flag, {"help": text}) for flag, text in REGISTRY_HELP.items()))

    command(
        "run", cmd_run, "run the gate on your data, as described by a YAML config",
        ("--config", {"required": True, "help": "path to gate.yaml"}),
        ("--workdir", {"help": "working folder (default: the config's, else ./.gatekeeper)"}),
        ("--output", {"help": "where to write decision JSON (default: WORKDIR/decisions/MODEL.json)"}),
        ("--candidate", {"help": "judge this model trained elsewhere instead of training one: "
                                 "models:/NAME/VERSION, models:/NAME@ALIAS or runs:/RUN_ID/PATH"}),
    )  # fmt: skip
    command(
        "adopt", cmd_adopt,
        "record a champion promoted by hand as the gate's reference (scored on the config's evaluation rows)",
        ("--config", {"required": True, "help": "path to gate.yaml (its evaluation rows and segments)"}),
        ("--model", {"help": "registered model name (must be the config's model_name)"}),
        ("--version", {"help": "the version to adopt (default: the one behind alias champion)"}),
        ("--workdir", {"help": "working folder (default: the config's, else ./.gatekeeper)"}),
    )  # fmt: skip
    command(
        "demo", cmd_demo, "the whole story on simulated data, nothing to set up",
        ("--scenario", {"choices": sorted(SCENARIOS), "help": "default: bootstrap, then 'improves'"}),
        ("--workdir", {"help": "working folder (default ./.gatekeeper)"}),
        ("--output", {"help": "where to write the last run's decision JSON"}),
    )  # fmt: skip
    command(
        "compare-scores", cmd_compare_scores,
        "compare two models from a file of their scores (offline: no Prefect, no MLflow)",
        ("--scores", {"required": True, "help": "CSV or Parquet: one row per example"}),
        ("--label", {"required": True, "help": "column with the true label (two classes)"}),
        ("--champion", {"required": True, "help": "column with the champion's P(positive)"}),
        ("--candidate", {"required": True, "help": "column with the candidate's P(positive)"}),
        ("--segments", {"help": "comma-separated segment columns"}),
        ("--metric", {"default": "roc_auc", "help": "primary metric, then secondary ones, comma-separated"}),
        ("--key", {"action": "append", "help": "a key segment, 'col=value' or 'a=x&b=y' (repeatable)"}),
        ("--max-regression", {"type": float, "default": 0.0, "help": "key segments' tolerance"}),
        ("--min-improvement", {"type": float, "default": 0.0}),
        ("--min-segment-rows", {"type": int, "default": 200}),
        ("--positive-label", {"help": "the positive class (default: the second, sorted)"}),
        ("--level", {"type": float, "default": 0.95, "help": "confidence level"}),
        ("--resamples", {"type": int, "default": 1000, "help": "paired bootstrap resamples"}),
        ("--correction", {"choices": ["holm", "bh", "none"], "default": "holm"}),
        ("--seed", {"type": int, "default": 0}),
        ("--time-column", {"help": "the rows' time: the bootstrap resamples time blocks and each time "
                           "fold is compared too (without it the file's order stands for time)"}),
        ("--cluster-column", {"help": "an entity id (customer, device): its rows are resampled whole"}),
        ("--output", {"help": "JSON result (default ./comparison.json)"}),
        ("--markdown", {"help": "also write the markdown report here"}),
        ("--engine", {"choices": ["local", "dask"], "default": "local",
                      "help": "dask: --scores may be a Parquet folder, glob or URL larger than memory"}),
        ("--address", {"help": "engine dask: a running scheduler (default: a LocalCluster for the run)"}),
        ("--workers", {"type": int, "default": 2, "help": "engine dask: LocalCluster workers"}),
        ("--memory-limit", {"default": "2GiB", "help": "engine dask: LocalCluster memory per worker"}),
    )  # fmt: skip
    command(
        "init-expectations", cmd_init_expectations, "learn a starter GX suite from reference data",
        ("--data", {"required": True, "help": "reference data (CSV or Parquet)"}),
        ("--target", {"help": "the label column (its values become an exact value set)"}),
        ("--id", {"action": "append", "help": "an id column: unique, never null (repeatable)"}),
        ("--out", {"required": True, "help": "expectations/NAME.json (the file stem is the suite name)"}),
        ("--force", {"action": "store_true", "help": "overwrite an existing file"}),
        ("--min-rows", {"type": int, "default": 200,
                        "help": "the smallest segment the suite must pass by chance (default 200)"}),
    )  # fmt: skip
    for verb, what in (
        ("approve", "promote a candidate that is waiting for review"),
        ("reject", "reject a candidate that is waiting for review; the champion stays"),
    ):
        command(
            verb, cmd_review, what,
            *registry(
                ("--model", {"required": True, "help": "registered model name"}),
                ("--version", {"required": True, "help": "the candidate's model version"}),
                ("--comment", {"help": "why (recorded on the model version)"}),
                ("--who", {"required": True, "dest": "who",
                           "help": "who decides (required; recorded; checked against review.reviewers)"}),
            ),
        )  # fmt: skip
    command(
        "automations", cmd_automations,
        "install the shipped Prefect automations: notify when a gate run blocks a batch or waits for review",
        ("action", {"choices": ["install"], "help": "install: create, or update by name"}),
        ("--block", {"help": "a notification block on the server, TYPE/NAME (e.g. slack-webhook/team)"}),
        ("--webhook-url", {"help": "or a URL: a custom webhook block POSTing {subject, body} is made"}),
        ("--dir", {"help": "folder of automation YAML files (default: ./automations, else the shipped)"}),
    )  # fmt: skip
    command(
        "labels-arrived", cmd_labels_arrived,
        "record a batch of new labels and trigger the model's gate deployment",
        ("--model", {"required": True, "help": "registered model name (the event's resource)"}),
        ("--batch", {"required": True, "help": "the labelled batch: a path or fsspec URL"}),
    )  # fmt: skip
    command(
        "rollback", cmd_rollback, "move champion back to previous-champion, recording who and why",
        *registry(
            ("--model", {"required": True}),
            ("--reason", {"required": True, "help": "why (recorded on both versions and in the Prefect UI)"}),
            ("--who", {"dest": "who", "help": "who (default: $GATEKEEPER_REVIEWER, else the login name)"}),
        ),
    )  # fmt: skip
    command(
        "status", cmd_status, "champion, challenger and the latest decisions of a model",
        *registry(
            ("--model", {"required": True}),
            ("--last", {"type": int, "default": 10, "help": "how many versions to list"}),
            ("--json", {"action": "store_true", "help": "print JSON instead of a table"}),
        ),
    )  # fmt: skip
    command(
        "verify", cmd_verify,
        "check that champion is where the gate put it, on an intact record (exit 1 when not)",
        *registry(
            ("--model", {"required": True}),
            ("--json", {"action": "store_true", "help": "print JSON instead of text"}),
        ),
    )  # fmt: skip
    command(
        "recover", cmd_recover, "complete or undo an alias move a killed process left half done",
        *registry(("--model", {"required": True})),
    )  # fmt: skip
    add_webhook_commands(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
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


def entry() -> None:
    """The `gatekeeper` console script: `main()`, then exit without the interpreter's teardown of
    every module a gate run loads (~1.5 s). Every exit handler registered while the command ran
    still runs first (Prefect's log and event flushes, the private API's stop, MLflow's); logging is
    shut down and standard streams flushed; then the process ends with the command's exit code."""
    code = [EXIT_ERROR]

    def finish() -> None:  # registered before anything the command loads, so it runs last
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code[0])

    atexit.register(finish)
    words = [a for a in sys.argv[1:] if not a.startswith("-")]
    if words and words[0] in FLOW_COMMANDS:  # the API boots while the arguments and config are read
        _quiet_environment()
        api.start()
    try:
        code[0] = main()
    except SystemExit as done:  # argparse: --help, usage errors
        code[0] = done.code if isinstance(done.code, int) else (0 if done.code is None else EXIT_ERROR)
        raise
    sys.exit(code[0])


if __name__ == "__main__":
    sys.exit(main())
