"""Benchmark: a fleet of models gated in one run against the same models gated one process each.

    python benchmarks/fleet.py                         # 200 models; separate runs on a sample of 40
    python benchmarks/fleet.py --models 12 --separate all --skip-dask --skip-processes   # a smoke run
    python benchmarks/fleet.py --separate all          # every model also gated alone (about 40 min)

Generated data (seeded; `gatekeeper.demo.fleet`): each model its own world, 5,000-50,000 rows of
training data (log-uniform), a healthy batch its first champion also learns from, and the batch it
is gated on, with a fault by kind in turn (`shifted`: promote; `key-hurt`: better on average, worse
on a key segment; `broken`: a feature null in one region; `steady`: nothing changed); tables and
configs under `models/<name>/`, each side's fleet file listing every `gate.yaml`, and the first
champions set up untimed by a fleet run of the `boot.yaml`s, in each side's own workdir.

Timed, as whole processes (wall time from spawn to exit), one after another on the same machine:
- `fleet`: `gatekeeper run --config fleet.yaml` (threads: `fleet.compute.max_parallel`);
- `fleet on processes`: the same with `compute: {engine: processes}` (Prefect's process pool of
  `fleet.compute.max_parallel` spawned workers);
- `fleet on dask`: the same with `compute: {engine: dask}` (a LocalCluster of --dask-workers worker
  processes, one thread each);
- `separate`: `gatekeeper run --config models/<name>/gate.yaml`, one process per model, one after
  another (as a nightly loop runs them); on every model (`--separate all`) or on a sample taken
  evenly over the models (`--separate N`): throughput is models per second either way.

Reported (JSON): seconds, models per second, the ratio of the fleet's throughput to the separate
runs', the decisions by kind, every model whose decision differs between the fleet and its separate
run (the fleet's false discovery control is named when it is why), and the peak resident memory of
each side (the gate's process and its children: the private Prefect API, Dask's workers), sampled
every 0.2 s with psutil.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
GATEKEEPER = Path(sys.executable).parent / "gatekeeper"
KINDS = ("shifted", "key-hurt", "broken", "steady")
TARGET_RATIO = 5.0
ENV = dict(os.environ)
# bytecode is kept, as on a user's machine: with PYTHONDONTWRITEBYTECODE set (some sandboxes set it)
# every process of ours compiles the project's modules again (~0.2 s each on the 2-core machine),
# which the peers' site-packages, compiled at install, never pay
ENV.pop("PYTHONDONTWRITEBYTECODE", None)


# ---------------------------------------------------------------- the generated fleet


def write_fleet(root: Path, models: int, seed: int) -> list[dict[str, Any]]:
    from gatekeeper.demo.fleet import write_listed_fleet

    written = write_listed_fleet(root, models, seed, min_rows=5_000, max_rows=50_000)
    return [
        {"name": m.name, "kind": m.kind, "rows": m.rows, "gate": str(m.gate), "boot": str(m.boot)}
        for m in written
    ]


def fleet_file(path: Path, name: str, configs: list[str], compute: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"fleet": {"name": name, "models": configs, "compute": compute}}))
    return path


# ---------------------------------------------------------------- timed processes


def peak_rss_of_tree(pid: int, stop: threading.Event, out: dict[str, float]) -> None:
    import psutil

    peak = 0.0
    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return
    while not stop.is_set():
        total = 0
        try:
            for proc in [root, *root.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            break
        peak = max(peak, total)
        stop.wait(0.2)
    out["peak_rss_mb"] = round(peak / 2**20, 1)


def timed(argv: list[str], cwd: Path, timeout: float, what: str) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop, memory = threading.Event(), {}
    watcher = threading.Thread(target=peak_rss_of_tree, args=(proc.pid, stop, memory), daemon=True)
    watcher.start()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise SystemExit(f"benchmark failed: {what} took more than {timeout:g} s") from None
    seconds = time.perf_counter() - started
    stop.set()
    watcher.join()
    if proc.returncode != 0:
        sys.stderr.write(
            f"benchmark failed: {what} exited {proc.returncode}\n{stderr[-6000:]}\n{stdout[-3000:]}"
        )
        raise SystemExit(1)
    return {"seconds": seconds, **memory}


def decisions_in(workdir: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for name in names:
        path = workdir / "decisions" / f"{name}.json"
        if not path.exists():
            out[name] = {"decision": "error (no decision file)"}
            continue
        data = json.loads(path.read_text())
        held = any(c.get("check") == "fleet.false_discovery_rate" for c in data.get("checks", []))
        out[name] = {"decision": data["decision"], "held_by_fleet": held}
    return out


def first_champions(workdir: Path, names: list[str]) -> None:
    """Every model has its first champion, or the benchmark stops naming those that do not."""
    found = decisions_in(workdir, names)
    missing = {name: d["decision"] for name, d in found.items() if d["decision"] != "bootstrap"}
    if missing:
        raise SystemExit(f"benchmark failed: first champions missing: {missing}")
    shutil.rmtree(workdir / "decisions", ignore_errors=True)


def gate_fleet(
    root: Path, side: str, entries: list[dict[str, Any]], compute: dict[str, Any], timeout: float
) -> dict[str, Any]:
    workdir = root / side
    shutil.rmtree(workdir, ignore_errors=True)
    boot = fleet_file(root / f"{side}-boot.yaml", f"{side}-boot", [e["boot"] for e in entries], compute)
    print(f"[{side}] first champions of {len(entries)} models (untimed)", file=sys.stderr, flush=True)
    timed(
        [str(GATEKEEPER), "run", "--config", str(boot), "--workdir", str(workdir)],
        root,
        timeout,
        f"{side} bootstrap",
    )
    first_champions(workdir, [e["name"] for e in entries])
    fleet = fleet_file(root / f"{side}.yaml", side, [e["gate"] for e in entries], compute)
    print(f"[{side}] gating {len(entries)} models in one run (timed)", file=sys.stderr, flush=True)
    result = timed(
        [str(GATEKEEPER), "run", "--config", str(fleet), "--workdir", str(workdir)], root, timeout, side
    )
    result["decisions"] = decisions_in(workdir, [e["name"] for e in entries])
    return result


def gate_separately(
    root: Path, entries: list[dict[str, Any]], sample: list[int], timeout: float
) -> dict[str, Any]:
    workdir = root / "separate"
    shutil.rmtree(workdir, ignore_errors=True)
    boot = fleet_file(root / "separate-boot.yaml", "separate-boot", [entries[i]["boot"] for i in sample], {})
    print(
        f"[separate] first champions of {len(sample)} models (untimed, one fleet run)",
        file=sys.stderr,
        flush=True,
    )
    timed(
        [str(GATEKEEPER), "run", "--config", str(boot), "--workdir", str(workdir)],
        root,
        timeout,
        "separate bootstrap",
    )
    first_champions(workdir, [entries[i]["name"] for i in sample])
    seconds, peak = 0.0, 0.0
    for done, i in enumerate(sample, 1):
        entry = entries[i]
        one = timed(
            [str(GATEKEEPER), "run", "--config", entry["gate"], "--workdir", str(workdir)],
            root,
            timeout,
            entry["name"],
        )
        seconds += one["seconds"]
        peak = max(peak, one.get("peak_rss_mb", 0.0))
        print(
            f"[separate] {done}/{len(sample)} {entry['name']}: {one['seconds']:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    return {
        "seconds": seconds,
        "peak_rss_mb": peak,
        "decisions": decisions_in(workdir, [entries[i]["name"] for i in sample]),
    }


def compare(fleet: dict[str, Any], separate: dict[str, Any]) -> dict[str, Any]:
    differ = {}
    for name, alone in separate["decisions"].items():
        together = fleet["decisions"].get(name, {})
        if together.get("decision") != alone.get("decision"):
            differ[name] = {
                "fleet": together.get("decision"),
                "separate": alone.get("decision"),
                "why": "held back by the fleet's false discovery control"
                if together.get("held_by_fleet")
                else "?",
            }
    return {"compared": len(separate["decisions"]), "differing": differ}


def by_kind(entries: list[dict[str, Any]], decisions: dict[str, dict[str, Any]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for entry in entries:
        decision = decisions.get(entry["name"], {}).get("decision", "?")
        kind = out.setdefault(entry["kind"], {})
        kind[decision] = kind.get(decision, 0) + 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--separate", default="40", help="'all', or how many models to gate alone (a sample)")
    parser.add_argument(
        "--max-parallel", type=int, default=2, help="fleet.compute.max_parallel (threads, processes)"
    )
    parser.add_argument("--dask-workers", type=int, default=2)
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--skip-processes", action="store_true")
    parser.add_argument("--skip-threads", action="store_true")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--timeout", type=float, default=7200)
    parser.add_argument("--keep", help="a folder to keep the generated data and workdirs in")
    args = parser.parse_args()

    root = Path(args.keep or tempfile.mkdtemp(prefix="fleet-bench-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    print(f"writing {args.models} models' data under {root}", file=sys.stderr, flush=True)
    entries = write_fleet(root, args.models, args.seed)
    count = len(entries) if args.separate == "all" else min(len(entries), int(args.separate))
    sample = sorted({round(i * (len(entries) - 1) / max(1, count - 1)) for i in range(count)})

    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "models": len(entries),
        "rows": {"min": min(e["rows"] for e in entries), "max": max(e["rows"] for e in entries)},
        "target_throughput_ratio": TARGET_RATIO,
    }
    sides: dict[str, dict[str, Any]] = {}
    if not args.skip_threads:
        sides["fleet"] = {"engine": "threads", "max_parallel": args.max_parallel}
    if not args.skip_processes:
        sides["fleet on processes"] = {"engine": "processes", "max_parallel": args.max_parallel}
    if not args.skip_dask:
        sides["fleet on dask"] = {"engine": "dask", "n_workers": args.dask_workers, "threads_per_worker": 1}
    results = {
        side: gate_fleet(root, side.replace(" ", "-"), entries, compute, args.timeout)
        for side, compute in sides.items()
    }
    separate = gate_separately(root, entries, sample, args.timeout)
    separate_rate = len(sample) / separate["seconds"]
    report["separate"] = {
        "models": len(sample),
        "seconds": round(separate["seconds"], 1),
        "models_per_second": round(separate_rate, 4),
        "peak_rss_mb (one process)": separate["peak_rss_mb"],
        "decisions_by_kind": by_kind([entries[i] for i in sample], separate["decisions"]),
    }
    for side, result in results.items():
        rate = len(entries) / result["seconds"]
        report[side] = {
            "seconds": round(result["seconds"], 1),
            "models_per_second": round(rate, 4),
            "throughput_ratio_to_separate": round(rate / separate_rate, 2),
            "meets_target": rate / separate_rate >= TARGET_RATIO,
            "peak_rss_mb": result.get("peak_rss_mb"),
            "decisions_by_kind": by_kind(entries, result["decisions"]),
            "against_separate_runs": compare(result, separate),
        }
    print(json.dumps(report, indent=2))
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
