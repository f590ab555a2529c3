"""Benchmark: the retraining gate's own overhead over a bare scikit-learn script, whole processes.

    python benchmarks/overhead.py                        # bank example + 1,000,000 evaluation rows
    python benchmarks/overhead.py --eval-rows 20000      # a smoke run (a minute or two)
    python benchmarks/overhead.py --skip-large --repeat 3

Both sides run as fresh interpreters (subprocess, wall time from spawn to exit), in one run:

- the gate: `gatekeeper run --config gate.yaml --workdir W` (the console script next to this
  interpreter), after an untimed `gatekeeper run --config bootstrap.yaml --workdir W` in a fresh
  temporary W that registers the first champion (the shipped bootstrap.yaml, for both cases);
  everything a user waits for is counted: imports, the Prefect API, validation, drift, triage,
  MLflow, training, scoring, the report;
- the bare script: pandas reads the same tables (train + new labels, concatenated, and the
  evaluation rows), fits the same default pipeline as `build_default_pipeline`, written out by
  hand with scikit-learn only (no gatekeeper import), scores the evaluation rows and prints the
  ROC AUC, as a user would write it: with the environment's OpenMP settings (libgomp's default
  wait policy when the shell sets none). It used to set OMP_WAIT_POLICY=PASSIVE, the gate's
  default, "so both fit under the same policy"; but the gate also fits small tables on one
  OpenMP thread (`fitting_threads`), and a two-thread fit under PASSIVE took 3.8 s for the bank's
  30,000 rows against 0.85 s under the default: the bare script was 3 s slower than any user's,
  and the gate's overhead looked 3 s smaller than it is (measured 2026-12-07).

Cases: `bank` is the shipped example (examples/bank_marketing, 30,000 training rows, 11,188
evaluation rows); `large` scores N synthetic evaluation rows (--eval-rows, default 1,000,000):
the bank evaluation rows sampled with replacement (seeded), float columns jittered slightly
(clipped to the column's range), written as Parquet, with a copy of gate.yaml pointing at it that
sets `triage.max_conflicting_share: 1.0`: synthetic evaluation rows are no reference for how often
identical rows disagree (jittered, none are identical; copied, the copies agree), and against either
the bank's real new labels look relabelled, so the gate would block and the case would time a
blocked run. Jittering the new labels too is no way out: the bank's training rows hold two values of
emp.var.rate, and jittered they become a narrow range the new labels fall outside.

The gate's time is broken into stages from its Prefect log lines (HH:MM:SS.mmm, local time)
against the wall clock at spawn: start-up (imports before the Prefect API), Prefect API start
(one stage with start-up when no `Starting temporary server` line is logged, as when the CLI
starts its own API server beside the imports), each task (from the previous event to its
`Finished in state` line: flow code between tasks counts in the next task), the flow's wrap-up,
and shutdown (flow finished to process exit).
The stages sum to the wall time by construction; what the parser could not place is named so.

The floor: the bare script again, also unpickling a champion (the same pipeline fitted by hand,
untimed, on the bootstrap's tables) and scoring it on the same rows. It is the least any
champion/challenger comparison does, with no validation, registry or orchestration; its ratio to
the bare script bounds from below what any gate can reach on this machine.

It prints a JSON report: per case the rows, gate, bare and floor seconds (median of --repeat runs),
overhead (gate - bare), ratio (gate / bare), the stage breakdown, and the targets: overhead
<= 6 s on the bank example, the gate <= 1.25x the floor at 1,000,000 evaluation rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "bank_marketing"
GATE_YAML = EXAMPLE / "gate.yaml"
BOOTSTRAP_YAML = EXAMPLE / "bootstrap.yaml"
GATEKEEPER = Path(sys.executable).parent / "gatekeeper"
# cli/__init__.py: cmd_run returns EXIT_OK (0) once the gate has decided, whatever the decision
# (promote, reject, needs_review, blocked); 1 is an error, 2 a usage error.
GATE_DECIDED = {0}
OVERHEAD_TARGET_S = 6.0
FLOOR_RATIO_TARGET = 1.25  # the gate's time over the floor's (bare + scoring the champion)
RATIO_TARGET_ROWS = 1_000_000
# the environment every process gets, as it was before this process imported gatekeeper (whose import
# sets OMP_WAIT_POLICY in os.environ): the gate sees what a user's shell gives it
ENV = dict(os.environ)
# bytecode is kept, as on a user's machine: with PYTHONDONTWRITEBYTECODE set (some sandboxes set it)
# every process of ours compiles the project's modules again (~0.2 s each on the 2-core machine),
# which the peers' site-packages, compiled at install, never pay
ENV.pop("PYTHONDONTWRITEBYTECODE", None)

BARE = r'''
"""A bare scikit-learn script: the gate's default pipeline on the gate's tables, nothing else."""
import gzip
import json
import os
import pickle
import sys
import time

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder


def read(path):
    if path.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as fh:
        header = fh.readline()
    return pd.read_csv(path, sep=max([",", ";", "\t"], key=header.count))


def as_object_text(X):
    frame = pd.DataFrame(X)
    return frame.astype(str).astype(object).where(frame.notna(), np.nan)


spec = json.loads(sys.argv[1])
started = time.perf_counter()
train = pd.concat([read(spec["train"]), read(spec["new_labels"])], ignore_index=True)
evaluation = read(spec["evaluation"])
features, target = spec["features"], spec["target"]
loaded = time.perf_counter()
numeric = Pipeline(
    [("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True))]
)
categorical = Pipeline(
    [
        ("to_text", FunctionTransformer(as_object_text, feature_names_out="one-to-one")),
        ("impute", SimpleImputer(strategy="constant", fill_value="<missing>")),
        ("onehot", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5, sparse_output=False)),
    ]
)
columns = ColumnTransformer(
    [
        ("numeric", numeric, make_column_selector(dtype_include="number")),
        ("categorical", categorical, make_column_selector(dtype_exclude="number")),
    ]
)
model = HistGradientBoostingClassifier(
    max_iter=200, learning_rate=0.08, early_stopping=False, random_state=spec["random_state"]
)
pipeline = Pipeline([("columns", columns), ("model", model)]).fit(train[features], train[target])
fitted = time.perf_counter()
if spec.get("save_to"):  # untimed set-up of the floor: the champion, fitted on the bootstrap's tables
    with open(spec["save_to"], "wb") as fh:
        pickle.dump(pipeline, fh)
    raise SystemExit(0)
positive = list(pipeline.classes_).index(spec["positive"])
scores = pipeline.predict_proba(evaluation[features])[:, positive]
auc = roc_auc_score(evaluation[target] == spec["positive"], scores)
scored = time.perf_counter()
extra = {}
if spec.get("champion"):  # the floor: a champion from disk, scored on the same rows, nothing else
    with open(spec["champion"], "rb") as fh:
        champion = pickle.load(fh)
    champion_scores = champion.predict_proba(evaluation[features])[:, positive]
    extra = {
        "champion_roc_auc": roc_auc_score(evaluation[target] == spec["positive"], champion_scores),
        "champion_score_s": time.perf_counter() - scored,
    }
print(json.dumps({
    **extra,
    "roc_auc": auc,
    "train_rows": len(train),
    "evaluation_rows": len(evaluation),
    "read_s": loaded - started,
    "fit_s": fitted - loaded,
    "score_s": scored - fitted,
    "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset (libgomp's default)"),
}))
'''


# ---------------------------------------------------------------- running processes


def run_process(argv: list[str], cwd: Path, timeout: float, what: str) -> dict[str, Any]:
    """Spawn, wait, and time one process; exit the benchmark (with its stderr) if it failed."""
    spawned_at = time.time()
    started = time.perf_counter()
    try:
        done = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, env=ENV
        )
    except subprocess.TimeoutExpired as exc:
        sys.stderr.write(f"benchmark failed: {what} took more than {timeout:g} s\n")
        sys.stderr.write(_text(exc.stderr)[-5000:])
        raise SystemExit(1) from None
    seconds = time.perf_counter() - started
    return {
        "argv": argv,
        "spawned_at": spawned_at,
        "seconds": seconds,
        "returncode": done.returncode,
        "stdout": done.stdout,
        "stderr": done.stderr,
    }


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def fail(what: str, result: dict[str, Any]) -> None:
    sys.stderr.write(
        f"benchmark failed: {what} exited {result['returncode']}\n"
        f"command: {' '.join(map(str, result['argv']))}\n--- stderr ---\n{result['stderr'][-8000:]}\n"
        f"--- stdout (tail) ---\n{result['stdout'][-3000:]}\n"
    )
    raise SystemExit(1)


def gatekeeper_run(config: Path, workdir: Path, cwd: Path, timeout: float, what: str) -> dict[str, Any]:
    argv = [str(GATEKEEPER), "run", "--config", str(config), "--workdir", str(workdir)]
    result = run_process(argv, cwd, timeout, what)
    if result["returncode"] not in GATE_DECIDED:
        fail(what, result)
    return result


# ---------------------------------------------------------------- the gate's log, in stages

LOG_LINE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})[.,](\d{1,6})\s*\|\s*(\w+)\s*\|\s*(.*)$")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
TASK_DONE = re.compile(r"^Task run '(.+?)(?:-[0-9a-f]{3,})?' - Finished in state (\w+)")
FLOW_BEGIN = re.compile(r"^Flow run '.*?' - Beginning flow run")
FLOW_DONE = re.compile(r"^Flow run '.*?' - Finished in state (\w+)")
SERVER_START = re.compile(r"Starting temporary server on")
SERVER_STOP = re.compile(r"Stopping temporary server on")

STARTUP = "start-up (imports before the Prefect API)"
STARTUP_NO_SERVER = "start-up (imports and Prefect API, until the flow run begins; no server log line)"
API_START = "Prefect API start"
WRAP_UP = "flow wrap-up (last task to flow finished)"
SHUTDOWN = "shutdown (flow finished to process exit)"
UNPLACED = "after the last parsed log line to process exit"


def parse_events(text: str, spawned_at: float) -> tuple[list[tuple[float, str, str]], int]:
    """(seconds since spawn, kind, detail) for the lines that mark stages; and lines parsed."""
    spawn = dt.datetime.fromtimestamp(spawned_at)
    spawn_of_day = spawn.hour * 3600 + spawn.minute * 60 + spawn.second + spawn.microsecond / 1e6
    events, parsed = [], 0
    for raw in text.splitlines():
        match = LOG_LINE.match(ANSI.sub("", raw).strip())
        if not match:
            continue
        parsed += 1
        hh, mm, ss, frac, _level, message = match.groups()
        of_day = int(hh) * 3600 + int(mm) * 60 + int(ss) + int(frac) / 10 ** len(frac)
        if of_day < spawn_of_day - 3600:  # the run crossed midnight
            of_day += 86400
        at = of_day - spawn_of_day
        if SERVER_START.search(message):
            events.append((at, "server_start", ""))
        elif SERVER_STOP.search(message):
            events.append((at, "server_stop", ""))
        elif FLOW_BEGIN.search(message):
            events.append((at, "flow_begin", ""))
        elif task := TASK_DONE.search(message):
            events.append(
                (at, "task", task.group(1) + ("" if task.group(2) == "Completed" else f" [{task.group(2)}]"))
            )
        elif flow_done := FLOW_DONE.search(message):
            events.append((at, "flow_end", flow_done.group(1)))
    events.sort(key=lambda e: e[0])  # stable: lines of one millisecond keep their order
    return events, parsed


def stage_breakdown(result: dict[str, Any]) -> dict[str, Any]:
    """Wall time split at the gate's log lines; never raises on an unexpected log."""
    wall = result["seconds"]
    try:
        events, parsed = parse_events(result["stdout"] + "\n" + result["stderr"], result["spawned_at"])
    except Exception as exc:  # a tolerant report beats a crashed benchmark
        return {"wall_seconds": wall, "error": f"could not parse the log: {exc!r}", "stages": {}}
    stages: dict[str, float] = {}
    counts: dict[str, int] = {}
    previous_kind, previous_at = "spawn", 0.0

    def add(name: str, until: float) -> None:
        stages[name] = stages.get(name, 0.0) + (until - previous_at)
        counts[name] = counts.get(name, 0) + 1

    server_stop_at = None
    for at, kind, detail in events:
        if kind == "server_stop":
            server_stop_at = at  # inside the shutdown stage; reported on its own below
            continue
        if kind == "server_start":
            add(STARTUP, at)
        elif kind == "flow_begin":
            add(API_START if previous_kind == "server_start" else STARTUP_NO_SERVER, at)
        elif kind == "task":
            add(f"task {detail}", at)
        elif kind == "flow_end":
            add(WRAP_UP, at)
        previous_kind, previous_at = kind, at
    add(SHUTDOWN if previous_kind == "flow_end" else UNPLACED, wall)
    report: dict[str, Any] = {
        "wall_seconds": wall,
        "sum_of_stages_seconds": sum(stages.values()),
        "log_lines_parsed": parsed,
        "stage_lines_found": len(events),
        "stages": {name: round(seconds, 3) for name, seconds in stages.items()},
    }
    repeated = {name: n for name, n in counts.items() if n > 1}
    if repeated:
        report["stages_seen_more_than_once (summed)"] = repeated
    if server_stop_at is not None and previous_kind == "flow_end":
        report["shutdown_detail"] = {
            "flow finished to 'Stopping temporary server' (decision printed)": round(
                server_stop_at - previous_at, 3
            ),
            "'Stopping temporary server' to process exit": round(wall - server_stop_at, 3),
        }
    if not events:
        report["note"] = "no stage lines recognised in the gate's output: the log format may have changed"
    return report


# ---------------------------------------------------------------- data and configs


def gate_settings(config_path: Path) -> dict[str, Any]:
    """Features, target, random state and absolute table paths, as the gate resolves them."""
    raw = yaml.safe_load(config_path.read_text())
    base = config_path.resolve().parent

    def absolute(path: str) -> str:
        return path if "://" in path or Path(path).is_absolute() else str((base / path).resolve())

    random_state = raw.get("random_state")
    if random_state is None:  # gatekeeper/config.py GateConfig.random_state's default
        random_state = 0
    return {
        "raw": raw,
        "features": list(raw["features"]),
        "target": raw["target"],
        "random_state": int(random_state),
        "train": absolute(raw["data"]["train"]),
        "new_labels": absolute(raw["data"]["new_labels"]),
        "evaluation": absolute(raw["data"]["evaluation"]),
        "expectations_directory": absolute(raw.get("expectations", {}).get("directory", "expectations")),
    }


def positive_class(target_values: Any) -> Any:
    """The positive class: the second of the sorted labels (1 in the bank data, where y is 0/1)."""
    labels = sorted(target_values.dropna().unique().tolist())
    if len(labels) != 2:
        raise SystemExit(f"benchmark expects a binary target; found labels {labels[:10]}")
    return labels[1]


def make_large_evaluation(source: str, rows: int, seed: int, out: Path) -> Path:
    """N rows sampled with replacement from `source`, float columns jittered: Parquet (else csv.gz)."""
    import numpy as np

    from gatekeeper.data.tables import read_table  # the gate's reader, so dtypes match its view

    frame = read_table(source)
    rng = np.random.default_rng(seed)
    sample = frame.iloc[rng.integers(0, len(frame), rows)].reset_index(drop=True)
    for column in sample.columns:
        if sample[column].dtype.kind == "f":
            values = sample[column].to_numpy()
            scale = 0.01 * float(np.nanstd(frame[column].to_numpy())) or 1e-6
            jittered = values + rng.normal(0.0, scale, rows)
            sample[column] = np.clip(jittered, frame[column].min(), frame[column].max())
    path = out / "evaluation_large.parquet"
    try:
        sample.to_parquet(path, index=False)
    except Exception as exc:  # no Parquet engine: the gate reads csv.gz too
        print(f"parquet write failed ({exc!r}); writing csv.gz", file=sys.stderr)
        path = out / "evaluation_large.csv.gz"
        sample.to_csv(path, sep=";", index=False)
    return path


def write_large_config(settings: dict[str, Any], evaluation: Path, out: Path) -> Path:
    raw = dict(settings["raw"])
    raw["data"] = {
        **raw["data"],
        "train": settings["train"],
        "new_labels": settings["new_labels"],
        "evaluation": str(evaluation),
    }
    raw["expectations"] = {**raw.get("expectations", {}), "directory": settings["expectations_directory"]}
    raw["triage"] = {**raw.get("triage", {}), "max_conflicting_share": 1.0}  # see the module's docstring
    path = out / "gate_large.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


# ---------------------------------------------------------------- one case


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def read_decision(workdir: Path, model_name: str) -> dict[str, Any]:
    path = workdir / "decisions" / f"{model_name}.json"
    try:
        decision = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return {"error": f"no decision file at {path}: {exc}"}
    overall = decision.get("overall") or {}
    return {
        "decision": decision.get("decision"),
        "candidate_roc_auc": overall.get("candidate"),
        "champion_roc_auc": overall.get("champion"),
    }


def run_case(
    name: str, gate_config: Path, settings: dict[str, Any], scratch: Path, repeat: int, timeout: float
) -> dict[str, Any]:
    import pandas as pd

    from gatekeeper.data.tables import read_table

    target = settings["target"]
    labels = pd.concat([read_table(settings[t])[target] for t in ("train", "new_labels")], ignore_index=True)
    evaluation_rows = len(read_table(settings["evaluation"]))
    spec = {
        "train": settings["train"],
        "new_labels": settings["new_labels"],
        "evaluation": settings["evaluation"],
        "features": settings["features"],
        "target": settings["target"],
        "random_state": settings["random_state"],
        "positive": positive_class(labels),
    }
    bare_script = scratch / "bare_sklearn.py"
    bare_script.write_text(BARE)
    model_name = settings["raw"]["model_name"]
    champion_pickle = scratch / f"{name}-champion.pkl"

    def bare_run(what: str, **changes: Any) -> dict[str, Any]:
        """The bare script on `spec` with `changes`; its JSON line as "result" (none for a set-up)."""
        done = run_process(
            [sys.executable, str(bare_script), json.dumps({**spec, **changes})], scratch, timeout, what
        )
        if done["returncode"] != 0:
            fail(f"{name}: {what}", done)
        lines = done["stdout"].strip().splitlines()
        done["result"] = json.loads(lines[-1]) if lines else None
        return done

    first = gate_settings(BOOTSTRAP_YAML)  # the floor's champion: the bootstrap's tables, fitted by hand
    print(f"[{name}] fitting the floor's champion (untimed)", file=sys.stderr, flush=True)
    bare_run(
        "fitting the floor's champion",
        train=first["train"],
        new_labels=first["new_labels"],
        save_to=str(champion_pickle),
    )

    gate_runs, bare_runs, floor_runs = [], [], []
    for i in range(repeat):
        workdir = scratch / f"{name}-workdir-{i}"
        print(f"[{name} {i + 1}/{repeat}] bootstrap (untimed)", file=sys.stderr, flush=True)
        gatekeeper_run(BOOTSTRAP_YAML, workdir, scratch, timeout, f"{name}: bootstrap run")
        print(f"[{name} {i + 1}/{repeat}] bare scikit-learn script", file=sys.stderr, flush=True)
        bare_runs.append(bare := bare_run("the bare scikit-learn script"))
        print(
            f"[{name} {i + 1}/{repeat}] floor: bare script + a champion scored", file=sys.stderr, flush=True
        )
        floor_runs.append(bare_run("the floor script", champion=str(champion_pickle)))
        print(
            f"[{name} {i + 1}/{repeat}] gate (bare took {bare['seconds']:.1f} s)", file=sys.stderr, flush=True
        )
        gate = gatekeeper_run(gate_config, workdir, scratch, timeout, f"{name}: gate run")
        gate["decision"] = read_decision(workdir, model_name)
        (scratch / f"{name}-gate-{i}.log").write_text(gate["stdout"] + "\n--- stderr ---\n" + gate["stderr"])
        gate_runs.append(gate)
        print(f"[{name} {i + 1}/{repeat}] gate took {gate['seconds']:.1f} s", file=sys.stderr, flush=True)

    gate_s = median([r["seconds"] for r in gate_runs])
    bare_s = median([r["seconds"] for r in bare_runs])
    floor_s = median([r["seconds"] for r in floor_runs])
    floor_typical = min(floor_runs, key=lambda r: abs(r["seconds"] - floor_s))
    typical = min(gate_runs, key=lambda r: abs(r["seconds"] - gate_s))  # the run nearest the median
    bare_typical = min(bare_runs, key=lambda r: abs(r["seconds"] - bare_s))
    breakdown = stage_breakdown(typical)
    bare_auc = bare_typical["result"]["roc_auc"]
    gate_auc = typical["decision"].get("candidate_roc_auc")
    stage_names = breakdown.get("stages", {})
    return {
        "rows": {"train": len(labels), "evaluation": evaluation_rows},
        "gate_config": str(gate_config),
        "gate_seconds": round(gate_s, 3),
        "bare_seconds": round(bare_s, 3),
        "overhead_seconds": round(gate_s - bare_s, 3),
        "ratio": round(gate_s / bare_s, 3),
        "floor": {
            "what": "the bare script that also unpickles a champion and scores it on the same rows: the "
            "least any champion/challenger comparison does (no validation, registry or orchestration)",
            "seconds": round(floor_s, 3),
            "ratio_to_bare": round(floor_s / bare_s, 3),
            "champion_score_s": round(floor_typical["result"]["champion_score_s"], 3),
            "runs_seconds": [round(r["seconds"], 3) for r in floor_runs],
        },
        "gate_runs_seconds": [round(r["seconds"], 3) for r in gate_runs],
        "bare_runs_seconds": [round(r["seconds"], 3) for r in bare_runs],
        "gate_decision": typical["decision"],
        "gate_openmp_log": next(
            (
                m.group(1)
                for m in re.finditer(r"OpenMP wait policy (.*)$", typical["stderr"] + typical["stdout"], re.M)
            ),
            None,
        ),
        "gate_trained_a_candidate": any(s.startswith("task train_candidate") for s in stage_names),
        "bare": {
            **{k: round(v, 3) if isinstance(v, float) else v for k, v in bare_typical["result"].items()},
            "roc_auc": bare_auc,
        },
        "same_model_check": {
            "bare_roc_auc": bare_auc,
            "gate_candidate_roc_auc": gate_auc,
            "equal": gate_auc is not None and abs(bare_auc - gate_auc) < 1e-9,
        },
        "gate_stages": breakdown,
    }


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--eval-rows", type=int, default=RATIO_TARGET_ROWS, help="rows of the large case")
    parser.add_argument("--skip-large", action="store_true", help="only the bank example")
    parser.add_argument("--skip-bank", action="store_true", help="only the large case")
    parser.add_argument("--repeat", "--repeats", type=int, default=1, help="median of this many runs")
    parser.add_argument("--seed", type=int, default=0, help="sampling and jitter of the large case")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per process")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (printed): data, configs, gate logs"
    )
    args = parser.parse_args()
    if not GATEKEEPER.exists():
        raise SystemExit(f"no gatekeeper console script at {GATEKEEPER}: pip install -e . in this venv")
    if args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")

    scratch = Path(tempfile.mkdtemp(prefix="gatekeeper-overhead-"))
    settings = gate_settings(GATE_YAML)
    report: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "machine": platform.machine(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
        },
        "method": {
            "timing": "wall seconds from spawn to exit of a fresh interpreter (subprocess), "
            f"median of {args.repeat} run(s); the gate runs after an untimed bootstrap in a fresh workdir",
            "gate": f"{GATEKEEPER} run --config <gate.yaml> --workdir <fresh temporary folder>",
            "bare": "python bare_sklearn.py: pandas reads train + new_labels + evaluation, the default "
            "pipeline by hand (scikit-learn only), fit, predict_proba on the evaluation rows, roc_auc",
            "omp_wait_policy": (
                f"{ENV['OMP_WAIT_POLICY']} (set in the environment, both sides)"
                if "OMP_WAIT_POLICY" in ENV
                else "the gate: PASSIVE (gatekeeper's default, fits below 1,000,000 rows on one OpenMP "
                "thread); the bare script: libgomp's default (nothing set, as a user's script)"
            ),
            "prefect_api": ENV.get("PREFECT_API_URL") or "a local API server per gate run",
            "features": settings["features"],
            "target": settings["target"],
            "random_state": settings["random_state"],
        },
        "cases": {},
    }
    try:
        if not args.skip_bank:
            report["cases"]["bank"] = run_case(
                "bank", GATE_YAML, settings, scratch, args.repeat, args.timeout
            )
        if not args.skip_large:
            print(f"[large] writing {args.eval_rows:,} evaluation rows", file=sys.stderr, flush=True)
            evaluation = make_large_evaluation(settings["evaluation"], args.eval_rows, args.seed, scratch)
            large_config = write_large_config(settings, evaluation, scratch)
            large = {**settings, "evaluation": str(evaluation)}
            report["cases"]["large"] = {
                "evaluation_file": evaluation.name,
                "synthetic": f"bank evaluation rows sampled with replacement (seed {args.seed}), "
                "float columns + N(0, 0.01 sd) clipped to the column's range, integers kept; "
                "triage.max_conflicting_share 1.0 (the rows are copies: no reference for conflicts)",
                **run_case("large", large_config, large, scratch, args.repeat, args.timeout),
            }
    finally:
        if args.keep:
            print(f"temporary folder kept: {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    targets: dict[str, Any] = {}
    if "bank" in report["cases"]:
        overhead = report["cases"]["bank"]["overhead_seconds"]
        targets[f"bank_overhead_seconds<={OVERHEAD_TARGET_S:g}"] = {
            "value": overhead,
            "target": OVERHEAD_TARGET_S,
            "met": overhead <= OVERHEAD_TARGET_S,
        }
    if "large" in report["cases"]:
        large_case = report["cases"]["large"]
        over_floor = round(large_case["gate_seconds"] / large_case["floor"]["seconds"], 3)
        targets[f"gate/floor<={FLOOR_RATIO_TARGET:g}_at_1M_evaluation_rows"] = {
            "value": over_floor,
            "target": FLOOR_RATIO_TARGET,
            "evaluation_rows": large_case["rows"]["evaluation"],
            "at_target_rows": large_case["rows"]["evaluation"] == RATIO_TARGET_ROWS,
            "met": over_floor <= FLOOR_RATIO_TARGET,
            "gate/bare": large_case["ratio"],
            "floor/bare": large_case["floor"]["ratio_to_bare"],
            "gate_over_floor_seconds": round(large_case["gate_seconds"] - large_case["floor"]["seconds"], 3),
        }
    report["targets"] = targets
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
