"""What the terminal shows: the decision, its reasons and where to look (rich)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

if TYPE_CHECKING:
    from gatekeeper.decide.decision import Decision


COLOURS = {
    "promoted": "green",
    "bootstrap": "green",
    "rejected": "red",
    "blocked": "yellow",
    "needs_review": "magenta",
}
SEGMENT_COLUMNS = ("segment", "key", "n", "champion", "candidate", "delta", "status")


def console() -> Console:
    return Console(stderr=False, highlight=False)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def print_decision(decision: Decision, output: Path, tracking_uri: str | None = None) -> None:
    """The decision, its reasons, where to look and, when a person must decide, how."""
    d = decision
    lines = [f"[bold {COLOURS.get(d.decision, 'cyan')}]{d.decision.upper()}[/]  model {d.model_name}"]
    if d.candidate_version:
        lines.append(
            f"candidate version {d.candidate_version}, "
            f"champion before this run: {d.champion_version or 'none'}"
        )
    if d.overall is not None and d.overall.candidate is not None:
        champ = d.overall.champion
        lines.append(
            f"{d.primary_metric}: champion {'None' if champ is None else f'{champ:.4f}'}"
            f" -> candidate {d.overall.candidate:.4f} on {d.overall.n} rows"
        )
    lines.append("")
    lines += [escape(f"- {r.text()}") for r in d.reasons]
    if d.quarantine:
        lines.append(escape(f"\nquarantined batch: {d.quarantine}"))
    if d.mlflow_run_id:
        lines.append(f"\nMLflow run: {d.mlflow_run_id}   Prefect flow run: {d.prefect_flow_run_id}")
    lines.append(f"decision file: {output}")
    out = console()
    out.print(Panel("\n".join(lines), title="retraining gate", expand=False))
    shown = [s for s in d.segments if s.key or s.status == "regressed"]
    if shown:
        table = Table(title="key and regressed segments")
        for col in SEGMENT_COLUMNS:
            table.add_column(col, no_wrap=col != "segment", overflow="fold")
        for s in shown[:15]:
            table.add_row(*[escape(_cell(getattr(s, c))) for c in SEGMENT_COLUMNS])
        out.print(table)
    if d.decision == "needs_review" and d.candidate_version:
        from gatekeeper.report.review import review_commands

        out.print("[bold]next step[/]: a person decides. Approve or reject (one command each, as printed):")
        for command in review_commands(d, tracking_uri):
            out.print(escape(command), soft_wrap=True, highlight=False)


def print_status(result: dict[str, Any]) -> None:
    """Aliases and the latest versions with their gate decisions."""
    out = console()
    aliases = ", ".join(f"{a}={v}" for a, v in sorted(result["aliases"].items())) or "none"
    out.print(f"[bold]{result['model_name']}[/]  aliases: {aliases}")
    table = Table(title="latest versions")
    for col in ("version", "decision", "review", "created", "reasons"):
        table.add_column(col, overflow="fold")
    for v in result["versions"]:
        table.add_row(v["version"], v["decision"], v["review"], v["created"], v["reasons"][:200])
    out.print(table)
    if result.get("custody"):
        print_custody(result["custody"])


def print_custody(custody: dict[str, Any]) -> None:
    """`verify`: the champion's standing, or every problem found (also shown by `status`)."""
    out = console()
    name, champion = custody["model_name"], custody["champion"]
    if custody["ok"]:
        standing = custody["standing"] or "no champion yet"
        out.print(f"[green]OK[/] {escape(name)}: champion {champion or '-'}: {escape(standing)}")
    for problem in custody["problems"]:
        out.print(f"[bold red]WARNING[/] {escape(problem)}")
    for caveat in custody.get("warnings") or []:
        out.print(f"[yellow]note[/] {escape(caveat)}")
    if custody.get("last_move"):
        out.print(f"last alias move by the gate: {escape(custody['last_move'])}")


def print_where_to_look(decision: Decision, tracking_uri: str) -> None:
    """How to open the run in the Prefect UI and the model in the MLflow UI, as commands that work."""
    import os
    import shlex

    from cli.api import LOCAL_UI
    from gatekeeper import PRIVATE_PREFECT_API
    from gatekeeper.errors import has_credentials, link_without_credentials

    out = console()
    run = decision.prefect_flow_run_id
    if run:
        if os.environ.get(PRIVATE_PREFECT_API):
            out.print(
                f"Prefect UI: run [bold]prefect server start[/] (it serves the local database this run is "
                f"kept in), then open {LOCAL_UI}/runs/flow-run/{run}",
                soft_wrap=True,
                highlight=False,
            )
        else:
            ui = os.environ.get("PREFECT_UI_URL") or (os.environ.get("PREFECT_API_URL") or "").removesuffix(
                "/api"
            )
            out.print(f"Prefect UI: {ui}/runs/flow-run/{run}", soft_wrap=True, highlight=False)
    model = decision.model_name
    version = decision.candidate_version
    page = f"#/models/{model}" + (f"/versions/{version}" if version else "")
    if tracking_uri.startswith(("http://", "https://")):
        link = link_without_credentials(tracking_uri).rstrip("/")
        out.print(f"MLflow UI: {link}/{page}", soft_wrap=True, highlight=False)
    else:  # a store with a password (a database server) is named by the variable, never printed
        store = '"$MLFLOW_TRACKING_URI"' if has_credentials(tracking_uri) else shlex.quote(tracking_uri)
        out.print(
            f"MLflow UI: run [bold]mlflow ui --backend-store-uri {store} --port 5000[/], then open "
            f"http://127.0.0.1:5000/{page}",
            soft_wrap=True,
            highlight=False,
        )


def write_fleet(result: Any, path: Path) -> Path:
    """The fleet's report (markdown) beside its models' decisions."""
    from gatekeeper.report.fleet import render_fleet_markdown

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_fleet_markdown(result), encoding="utf-8")
    return path


def print_fleet(result: Any, report: Path) -> None:
    """Every model's decision, what needs a person first, and where the fleet's report is."""
    from rich.table import Table

    from gatekeeper.report.fleet import fleet_rows

    out = console()
    table = Table(title=result.summary(), show_lines=False)
    for column in ("model", "decision", "candidate", "champion", "gain", "why"):
        table.add_column(column, overflow="fold")
    for row in fleet_rows(result):
        colour = COLOURS.get(str(row.get("decision")), "cyan")
        table.add_row(
            row["model"],
            f"[{colour}]{row['decision']}[/]",
            *(str(row.get(c, "")) for c in ("candidate", "champion", "gain", "why")),
        )
    out.print(table)
    out.print(f"wrong promotions across the fleet: {result.control.text()}")
    out.print(f"fleet report: {report}; each model's decision: {report.parent}/<model>.json")
