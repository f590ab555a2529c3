"""Benchmark: `compare-scores --engine dask` on more rows than a worker's memory, against the local engine.

    pip install -e ".[dask]"
    python benchmarks/dask_scale.py                                     # 20M rows, 512MiB per worker
    python benchmarks/dask_scale.py --rows 2000000 --local-rows 1000000  # a smoke run (under a minute)
    python benchmarks/dask_scale.py --memory-limit 512MiB --keep --workdir /tmp/dask-scale

The job: two models' probabilities of the positive class on N rows (--rows, default 20,000,000),
one segment column with S values (--segments, default 50), every metric engine dask supports
(roc_auc primary; average_precision, accuracy, balanced_accuracy, precision, recall, f1,
log_loss, brier), two key segments, a paired bootstrap of R resamples (--resamples, default
1000), Holm correction. In one run:

1. data: N rows written chunk by chunk (seeded, one chunk of --file-rows in memory at a time) as
   one Parquet file per chunk under a temporary folder: `label` ("yes"/"no", or 0/1 with
   --int-labels), `segment` (text), `champion` and `candidate` (float64, the candidate slightly
   better). Reported: the size on disk and the in-memory size (pandas `memory_usage(deep=True)`
   of one file as read back x the number of files);
2. engine dask on all N rows: `compare_scores_on_dask` against a LocalCluster started here
   (--workers workers of 1 thread, --memory-limit each, dashboard off), passed by address.
   Measured: wall time of the call, cluster memory (`distributed.diagnostics.MemorySampler`,
   process RSS summed over workers), each worker's RSS every 0.5 s (psutil on the worker's pid
   from this process, and `client.run` on the worker as a cross-check), worker pauses,
   restarts and memory warnings (scheduler state, scheduler, worker and nanny logs), how many
   finished tasks per prefix still hold their task spec (a worker keeps a task's arguments until
   its result is released), and the task stream per task prefix (count, compute seconds,
   largest result). A run in which every worker stays paused for --stall-seconds (a memory
   deadlock: nothing left to spill, nothing running) or that exceeds --timeout is stopped and
   diagnosed: per worker, the tasks held by state, the pickled size of each prefix's task spec
   and of its largest arguments, one result's `sizeof` against its pickled size; the scheduler's
   tasks by state;
3. the same comparison on the first M rows (--local-rows, default 5,000,000, rounded up to whole
   files): the local engine (`compare_scores` on a pandas frame from `pd.read_parquet` of only
   those files, in a child process so its peak RSS is its own) and engine dask (a fresh
   LocalCluster, same limits) side by side, with their agreement: same decision, the largest
   absolute difference of each metric's value (overall, per segment, per key segment; AUC
   should differ by < 1e-3: score binning is the dask engine's one approximation), and of the
   interval bounds (different bootstraps: informative, not a bound).

It prints a JSON report; the data are deleted at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import resource
import shutil
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO))

from gatekeeper.compare.partitions import SUPPORTED  # noqa: E402 (after the path set-up)

METRICS = list(SUPPORTED)  # every metric the Dask engine computes
LABEL, SEGMENT, CHAMPION, CANDIDATE = "label", "segment", "champion", "candidate"
# what the worker logs say when memory is tight (distributed.worker.memory, distributed.nanny)
MEMORY_LOG = re.compile(
    r"pausing|paused|memory budget|restarting worker|unmanaged memory|spill|exceeded|killed|"
    r"remove worker|died|lost|memory use is high|unexpectedly",
    re.IGNORECASE,
)
MIB = 2**20


# ---------------------------------------------------------------- the data


def make_chunk(rows: int, segments: int, seed: int, index: int, int_labels: bool) -> pd.DataFrame:
    """One file's rows: `make_scores` of benchmarks/segment_comparison.py, seeded per chunk."""
    rng = np.random.default_rng([seed, index])
    segment = rng.integers(0, segments, rows)
    y = rng.integers(0, 2, rows)
    signal = 1.0 * y + rng.normal(0, 1, rows) + 0.02 * (segment % 7)
    champion = 1 / (1 + np.exp(-(signal + rng.normal(0, 0.8, rows) - 0.5)))
    candidate = 1 / (1 + np.exp(-(signal + rng.normal(0, 0.7, rows) - 0.5)))
    width = len(str(segments - 1))
    names = np.array([f"s{i:0{width}d}" for i in range(segments)], dtype=object)
    return pd.DataFrame(
        {
            LABEL: y if int_labels else np.where(y == 1, "yes", "no").astype(object),
            SEGMENT: names[segment],
            CHAMPION: champion,
            CANDIDATE: candidate,
        }
    )


def write_dataset(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """N rows as ceil(N / file_rows) Parquet files, one chunk in memory at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    files = []
    for index, start in enumerate(range(0, args.rows, args.file_rows)):
        rows = min(args.file_rows, args.rows - start)
        chunk = make_chunk(rows, args.segments, args.seed, index, args.int_labels)
        path = folder / f"part-{index:05d}.parquet"
        pq.write_table(pa.Table.from_pandas(chunk, preserve_index=False), path)
        files.append(path)
    seconds = time.perf_counter() - started
    first = pd.read_parquet(files[0])  # as either engine's pandas sees it
    per_file = int(first.memory_usage(deep=True, index=False).sum())
    on_disk = sum(p.stat().st_size for p in files)
    return {
        "folder": str(folder),
        "rows": args.rows,
        "files": len(files),
        "rows_per_file": args.file_rows,
        "columns": {c: str(t) for c, t in first.dtypes.items()},
        "write_seconds": round(seconds, 1),
        "on_disk_mib": round(on_disk / MIB, 1),
        "in_memory_mib_estimate": round(per_file * len(files) / MIB, 1),
        "in_memory_estimate": "pandas memory_usage(deep=True) of part-00000 as read back x files",
        "_files": [str(p) for p in files],
    }


def subset_folder(
    files: list[str], rows_per_file: int, local_rows: int, folder: Path
) -> tuple[list[str], Path]:
    """The first files holding `local_rows` rows, hard-linked into their own folder (for dask)."""
    count = min(len(files), max(1, math.ceil(local_rows / rows_per_file)))
    folder.mkdir(parents=True, exist_ok=True)
    chosen = []
    for path in files[:count]:
        target = folder / Path(path).name
        if not target.exists():
            try:
                os.link(path, target)
            except OSError:
                shutil.copy2(path, target)
        chosen.append(str(target))
    return chosen, folder


# ---------------------------------------------------------------- the policy and the decisions


def make_policy(args: argparse.Namespace) -> Any:
    from gatekeeper.decide.scores import options_policy

    return options_policy(
        metrics=METRICS,
        segments=[SEGMENT],
        keys=[f"{SEGMENT}={k}" for k in args.key],
        max_regression=args.max_regression,
        min_improvement=0.0,
        min_segment_rows=200,
        level=0.95,
        resamples=args.resamples,
        seed=args.seed,
        correction="holm",
    )


def summary(decision: dict[str, Any]) -> dict[str, Any]:
    overall = decision["overall"] or {}
    return {
        "decision": decision["decision"],
        "overall_roc_auc": {
            "champion": overall.get("champion"),
            "candidate": overall.get("candidate"),
            "delta": overall.get("delta"),
            "ci": [overall.get("ci_low"), overall.get("ci_high")],
            "status": overall.get("status"),
            "method": overall.get("method"),
        },
        "segments": len([s for s in decision["segments"] if not s["key"]]),
        "key_segments": {
            s["segment"]: {"status": s["status"], "delta": s["delta"]}
            for s in decision["segments"]
            if s["key"]
        },
        "reasons": [f"{r['check']}: {r['message']}" for r in decision["reasons"]][:5],
    }


def _rows(decision: dict[str, Any]) -> dict[tuple[str, bool], dict[str, Any]]:
    rows = {("overall", False): decision["overall"]}
    rows.update({(s["segment"], bool(s["key"])): s for s in decision["segments"]})
    return rows


def _values(row: dict[str, Any], primary: str) -> dict[str, dict[str, Any]]:
    """metric -> its champion/candidate/delta/ci values on one result row."""
    out = {primary: {k: row.get(k) for k in ("champion", "candidate", "delta", "ci_low", "ci_high")}}
    for name, m in (row.get("secondary") or {}).items():
        out[name] = {k: m.get(k) for k in ("champion", "candidate", "delta", "ci_low", "ci_high")}
    return out


def _max_abs(pairs: list[tuple[Any, Any]]) -> float | None:
    diffs = [abs(a - b) for a, b in pairs if a is not None and b is not None]
    return max(diffs) if diffs else None


def agreement(local: dict[str, Any], dask: dict[str, Any]) -> dict[str, Any]:
    """How far engine dask's decision is from the local engine's on the same rows."""
    primary = local["primary_metric"]
    a, b = _rows(local), _rows(dask)
    common = sorted(set(a) & set(b))
    per_metric: dict[str, dict[str, Any]] = {}
    for metric in METRICS:
        value_pairs, ci_pairs = [], []
        for key in common:
            va, vb = _values(a[key], primary).get(metric), _values(b[key], primary).get(metric)
            if va is None or vb is None:
                continue
            value_pairs += [(va["champion"], vb["champion"]), (va["candidate"], vb["candidate"])]
            ci_pairs += [(va["ci_low"], vb["ci_low"]), (va["ci_high"], vb["ci_high"])]
        per_metric[metric] = {
            "max_abs_value_diff": _max_abs(value_pairs),
            "max_abs_ci_diff": _max_abs(ci_pairs),
        }
    overall_auc = _max_abs(
        [(a[("overall", False)][m], b[("overall", False)][m]) for m in ("champion", "candidate")]
    )
    segment_auc = _max_abs(
        [(a[k][m], b[k][m]) for k in common if k[0] != "overall" for m in ("champion", "candidate")]
    )
    statuses = {
        f"{k[0]}{' (key)' if k[1] else ''}": [a[k]["status"], b[k]["status"]]
        for k in common
        if a[k]["status"] != b[k]["status"]
    }
    return {
        "same_decision": local["decision"] == dask["decision"],
        "decisions": {"local": local["decision"], "dask": dask["decision"]},
        "same_groups": set(a) == set(b),
        "max_abs_auc_diff_overall": overall_auc,
        "max_abs_auc_diff_segments": segment_auc,
        "auc_within_1e-3": max(overall_auc or 0.0, segment_auc or 0.0) < 1e-3,
        "per_metric": per_metric,
        "segment_status_differences": statuses,
    }


# ---------------------------------------------------------------- the local engine (child process)


def run_local(files: list[str], policy: Any) -> dict[str, Any]:
    """`compare_scores` on the rows of `files`; runs in its own process (peak RSS is its own)."""
    import psutil

    from gatekeeper.decide.decision import decision_to_dict
    from gatekeeper.decide.scores import compare_scores

    baseline = psutil.Process().memory_info().rss
    started = time.perf_counter()
    frame = pd.read_parquet(files)
    read = time.perf_counter() - started
    after_read = psutil.Process().memory_info().rss
    started = time.perf_counter()
    decision = compare_scores(
        frame, source="benchmark", label=LABEL, champion=CHAMPION, candidate=CANDIDATE, policy=policy
    )
    compare = time.perf_counter() - started
    return {
        "rows": len(frame),
        "frame_mib": round(frame.memory_usage(deep=True, index=False).sum() / MIB, 1),
        "read_seconds": round(read, 2),
        "compare_seconds": round(compare, 2),
        "seconds": round(read + compare, 2),
        "rss_after_imports_mib": round(baseline / MIB, 1),
        "rss_after_read_mib": round(after_read / MIB, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "_decision": decision_to_dict(decision),
    }


# ---------------------------------------------------------------- engine dask on a LocalCluster


class WorkerWatch:
    """Each worker's RSS, status and pid every `interval` seconds, on a background thread."""

    def __init__(self, client: Any, interval: float = 0.5) -> None:
        self.client, self.interval = client, interval
        self.samples: list[dict[str, Any]] = []  # time, address, pid, rss (psutil), rss_run, status
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.errors: list[str] = []
        self.paused_since: float | None = None  # since when every worker is paused

    def all_paused_for(self) -> float:
        return time.time() - self.paused_since if self.paused_since is not None else 0.0

    def __enter__(self) -> WorkerWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        import psutil

        processes: dict[int, Any] = {}
        pids: dict[str, Any] = {}  # worker address -> pid (a restarted worker has a new address)
        while not self._stop.is_set():
            now = time.time()
            try:
                workers = self.client.scheduler_info(n_workers=-1)["workers"]
            except Exception as exc:
                self.errors.append(f"scheduler_info: {exc!r}")
                workers = {}
            try:  # on the worker, in its event loop: late when the loop is busy
                by_run = self.client.run(_worker_sample, on_error="return")
            except Exception as exc:
                self.errors.append(f"client.run: {exc!r}")
                by_run = {}
            if set(workers) - set(pids):
                try:
                    pids.update(self.client.run(os.getpid, on_error="return"))
                except Exception as exc:
                    self.errors.append(f"client.run(os.getpid): {exc!r}")
            for address, info in workers.items():
                pid = pids.get(address)
                pid = pid if isinstance(pid, int) else None
                rss = None
                if pid is not None:
                    try:
                        proc = processes.setdefault(pid, psutil.Process(pid))
                        rss = proc.memory_info().rss
                    except psutil.Error:
                        rss = None
                run = by_run.get(address)
                run = run if isinstance(run, dict) else {}
                self.samples.append(
                    {
                        "time": now,
                        "address": address,
                        "pid": pid,
                        "rss": rss,
                        "rss_run": run.get("rss"),
                        "kept_specs": run.get("kept_specs", {}),
                        "status": str(info.get("status", "")),
                        "scheduler_rss": (info.get("metrics") or {}).get("memory"),
                        "managed": (info.get("metrics") or {}).get("managed_bytes"),
                        "spilled": ((info.get("metrics") or {}).get("spilled_bytes") or {}).get("disk"),
                    }
                )
            if workers and all(str(info.get("status")) == "paused" for info in workers.values()):
                self.paused_since = self.paused_since or now
            else:
                self.paused_since = None
            self._stop.wait(self.interval)


def _worker_sample(dask_worker: Any) -> dict[str, Any]:
    """On a worker: its RSS, and per task prefix how many finished tasks still hold their task spec
    (a worker keeps a task's spec, arguments included, until the task's result is released)."""
    import psutil

    kept: dict[str, int] = {}
    for task in dask_worker.state.tasks.values():
        if task.run_spec is not None and task.state == "memory":
            kept[task.prefix] = kept.get(task.prefix, 0) + 1
    return {"rss": psutil.Process().memory_info().rss, "kept_specs": kept}


def _prefix(key: Any) -> str:
    from dask.utils import key_split

    return key_split(key)


def task_summary(stream: list[dict[str, Any]]) -> dict[str, Any]:
    """Per task prefix: tasks, compute seconds (sum, max), the largest result."""
    out: dict[str, dict[str, Any]] = {}
    for task in stream:
        name = _prefix(task["key"])
        entry = out.setdefault(
            name, {"tasks": 0, "compute_seconds": 0.0, "max_seconds": 0.0, "max_nbytes": 0}
        )
        entry["tasks"] += 1
        for ss in task.get("startstops", []):
            if ss.get("action") == "compute":
                took = ss["stop"] - ss["start"]
                entry["compute_seconds"] += took
                entry["max_seconds"] = max(entry["max_seconds"], took)
        entry["max_nbytes"] = max(entry["max_nbytes"], int(task.get("nbytes") or 0))
    for entry in out.values():
        entry["compute_seconds"] = round(entry["compute_seconds"], 2)
        entry["max_seconds"] = round(entry["max_seconds"], 2)
        entry["max_result_mib"] = round(entry.pop("max_nbytes") / MIB, 2)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["compute_seconds"]))


def running_at(stream: list[dict[str, Any]], worker: str, when: float, slack: float = 0.5) -> list[str]:
    """Task prefixes computing on `worker` around `when` (what the peak sample caught)."""
    names = []
    for task in stream:
        if task.get("worker") != worker:
            continue
        for ss in task.get("startstops", []):
            if ss.get("action") == "compute" and ss["start"] - slack <= when <= ss["stop"] + slack:
                names.append(_prefix(task["key"]))
    return sorted(set(names))


def _max_counts(counts: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for sample in counts:
        for prefix, n in (sample or {}).items():
            out[prefix] = max(out.get(prefix, 0), n)
    return out


def _pickled_size(value: Any) -> int:
    """Bytes `value` pickles to, counted as they stream (no copy: a paused worker is near its limit)."""
    import cloudpickle

    class Count:
        size = 0

        def write(self, data: Any) -> None:
            self.size += memoryview(data).nbytes

    sink = Count()
    cloudpickle.dump(value, sink, protocol=5)
    return sink.size


def _worker_probe(dask_worker: Any) -> dict[str, Any]:
    """On a worker (`client.run`): what it holds, and what the task specs it keeps weigh pickled."""
    import psutil

    held: dict[str, int] = {}
    spec_mib: dict[str, float] = {}
    biggest_args: dict[str, list[str]] = {}
    for task in dask_worker.state.tasks.values():
        name = f"{task.prefix} ({task.state})"
        held[name] = held.get(name, 0) + 1
        if task.run_spec is None or task.prefix in spec_mib:
            continue
        spec_mib[task.prefix] = round(_pickled_size(task.run_spec) / MIB, 2)
        parts = list(getattr(task.run_spec, "args", ())) + list(getattr(task.run_spec, "kwargs", {}).values())
        sizes = []
        for part in parts:
            value = getattr(part, "value", part)
            try:
                sizes.append((_pickled_size(value), type(value).__name__))
            except Exception:
                continue
        biggest_args[task.prefix] = [
            f"{kind}: {size / MIB:.2f} MiB" for size, kind in sorted(sizes)[::-1][:3]
        ]
    results: dict[str, str] = {}  # prefix -> dask's sizeof against the pickled size, one result each
    from dask.sizeof import sizeof

    for task in dask_worker.state.tasks.values():
        if task.state == "memory" and task.prefix not in results and task.key in dask_worker.data:
            try:
                value = dask_worker.data[task.key]
                results[task.prefix] = (
                    f"sizeof {sizeof(value) / MIB:.2f} MiB, pickled {_pickled_size(value) / MIB:.2f} MiB"
                )
            except Exception as exc:
                results[task.prefix] = repr(exc)[:200]
    specs_kept = {
        prefix: sum(
            1 for t in dask_worker.state.tasks.values() if t.prefix == prefix and t.run_spec is not None
        )
        for prefix in spec_mib
    }
    return {
        "status": str(dask_worker.status),
        "rss_mib": round(psutil.Process().memory_info().rss / MIB, 1),
        "managed_mib": round(dask_worker.state.nbytes / MIB, 1),
        "tasks_by_state": held,
        "executing": sorted(str(t.key) for t in dask_worker.state.executing),
        "pickled_task_spec_mib": spec_mib,
        "largest_task_arguments_pickled": biggest_args,
        "task_specs_kept": specs_kept,
        "kept_specs_mib_estimate": round(sum(spec_mib[p] * n for p, n in specs_kept.items()), 1),
        "one_result_per_prefix": results,
    }


def _scheduler_probe(dask_scheduler: Any) -> dict[str, Any]:
    import psutil

    counts: dict[str, int] = {}
    for task in dask_scheduler.tasks.values():
        name = f"{task.prefix.name} ({task.state})"
        counts[name] = counts.get(name, 0) + 1
    return {"rss_mib": round(psutil.Process().memory_info().rss / MIB, 1), "tasks_by_state": counts}


def diagnose(client: Any) -> dict[str, Any]:
    """Where a stalled run stands: every worker's held tasks and task specs, the scheduler's tasks."""
    out: dict[str, Any] = {}
    try:
        out["workers"] = client.run(_worker_probe, on_error="return")
        out["workers"] = {a: v if isinstance(v, dict) else repr(v) for a, v in out["workers"].items()}
    except Exception as exc:
        out["workers"] = repr(exc)
    try:
        out["scheduler"] = client.run_on_scheduler(_scheduler_probe)
    except Exception as exc:
        out["scheduler"] = repr(exc)
    return out


def _summarised(lines: list[str]) -> dict[str, Any]:
    """How many lines, pauses and restarts; the first and last three lines, in time order."""
    lines = sorted(lines, key=lambda line: line.split(": ", 1)[-1])  # each line starts with its time
    return {
        "lines": len(lines),
        "pauses": sum("Pausing worker" in line for line in lines),
        "restarts": sum("Restarting worker" in line or "memory budget" in line for line in lines),
        "first": lines[:3],
        "last": lines[3:][-3:],
    }


def _logs(entries: Any) -> list[str]:
    """Memory-related log lines of each worker (or nanny), prefixed with its address."""
    lines, seen = [], set()
    for address, log in (entries or {}).items():
        if isinstance(log, Exception | str):
            continue
        for record in log:
            text = record[1] if isinstance(record, list | tuple) else str(record)
            if MEMORY_LOG.search(text) and text not in seen:  # a LocalCluster's nannies share one log
                seen.add(text)
                lines.append(f"{address}: {text[:300]}")
    return lines


def run_dask(source: str, policy: Any, args: argparse.Namespace, label: str) -> dict[str, Any]:
    """`compare_scores_on_dask` on a LocalCluster started here, with its memory watched."""
    from dask.utils import parse_bytes
    from distributed import Client, LocalCluster, get_task_stream
    from distributed.diagnostics import MemorySampler

    from gatekeeper.decide.decision import decision_to_dict
    from gatekeeper.decide.on_dask import DaskCompute, compare_scores_on_dask

    limit = parse_bytes(args.memory_limit)
    out: dict[str, Any] = {"source": source, "workers": args.workers, "memory_limit": args.memory_limit}
    args.dask_space.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            memory_limit=args.memory_limit,
            dashboard_address=None,
            local_directory=args.dask_space,  # spilled data under the benchmark's folder
        ) as cluster,
        Client(cluster) as client,
    ):
        out["cluster_start_seconds"] = round(time.perf_counter() - started, 2)
        import dask.dataframe as dd

        out["partitions"] = dd.read_parquet(source).npartitions
        sampler = MemorySampler()
        error = None
        decision = None
        with (
            get_task_stream(client=client) as stream,
            WorkerWatch(client, interval=0.5) as watch,
            sampler.sample(label, client=client, measure="process", interval=0.5),
        ):
            outcome: dict[str, Any] = {"warnings": []}

            def call() -> None:
                try:
                    with warnings.catch_warnings(record=True) as caught:
                        outcome["warnings"] = caught  # filled as they come, even if the run stalls
                        warnings.simplefilter("always")
                        outcome["decision"] = compare_scores_on_dask(
                            source,
                            label=LABEL,
                            champion=CHAMPION,
                            candidate=CANDIDATE,
                            policy=policy,
                            compute=DaskCompute(address=cluster.scheduler_address),
                        )
                except Exception as exc:  # a killed worker, a memory error: reported, not raised
                    outcome["error"] = f"{type(exc).__name__}: {str(exc)[:2000]}"

            started = time.perf_counter()
            runner = threading.Thread(target=call, daemon=True)
            runner.start()
            stalled = None
            while runner.is_alive():
                runner.join(timeout=1.0)
                if not runner.is_alive():
                    break
                if watch.all_paused_for() >= args.stall_seconds:
                    stalled = (
                        f"stalled: every worker paused (memory above distributed.worker.memory.pause) "
                        f"for {watch.all_paused_for():.0f} s, nothing running"
                    )
                elif time.perf_counter() - started > args.timeout:
                    stalled = f"timed out after {args.timeout} s (--timeout)"
                if stalled:
                    out["stall_diagnosis"] = diagnose(client)
                    break
            seconds = time.perf_counter() - started
            decision, caught = outcome.get("decision"), outcome["warnings"]
            error = stalled or outcome.get("error")
        time.sleep(1.0)  # let the last heartbeats and log lines arrive (and the watch stop)
        logs = {
            "scheduler": _summarised(
                [f"scheduler: {r[1][:300]}" for r in client.get_scheduler_logs() if MEMORY_LOG.search(r[1])]
            ),
            "workers": _summarised(_logs(client.get_worker_logs())),
            "nannies": _summarised(_logs(client.get_worker_logs(nanny=True))),
        }
        final_workers = client.scheduler_info(n_workers=-1)["workers"]
    tasks = stream.data
    cluster_total = sampler.to_pandas()[label]
    samples = pd.DataFrame(watch.samples)
    if len(samples):
        samples["pid"] = samples["pid"].fillna(-1).astype(int)  # -1: pid not known
        for column in ("rss", "rss_run", "scheduler_rss", "managed", "spilled"):
            samples[column] = samples[column].astype(float)
    per_worker = {}
    if len(samples):
        for (address, pid), rows in samples.groupby(["address", "pid"], sort=True):
            best = rows.loc[rows["rss"].fillna(-1).idxmax()]
            per_worker[f"{address} (pid {pid})"] = {
                "peak_rss_mib": round(float(rows["rss"].max()) / MIB, 1),
                "peak_rss_client_run_mib": round(float(rows["rss_run"].max()) / MIB, 1),
                "peak_rss_scheduler_view_mib": round(float(rows["scheduler_rss"].max()) / MIB, 1),
                "peak_managed_mib": round(float(rows["managed"].max()) / MIB, 1),
                "peak_spilled_mib": round(float(rows["spilled"].fillna(0).max()) / MIB, 1),
                "peak_share_of_limit": round(float(rows["rss"].max()) / limit, 3),
                "peak_at_seconds": round(float(best["time"]) - float(samples["time"].min()), 1),
                "tasks_at_peak": running_at(tasks, address, float(best["time"])),
                "statuses_seen": sorted(set(rows["status"])),
                "max_finished_tasks_holding_spec": _max_counts(rows["kept_specs"]),
                "samples": len(rows),
            }
    readings = [v[k] for v in per_worker.values() for k in ("peak_rss_mib", "peak_rss_client_run_mib")]
    peak = max([r for r in readings if not math.isnan(r)], default=float("nan"))
    pids = set(samples["pid"]) if len(samples) else set()
    out.update(
        {
            "ok": error is None,
            "error": error,
            "seconds": round(seconds, 2),
            "peak_worker_rss_mib": peak,
            "memory_limit_mib": round(limit / MIB, 1),
            "under_limit": bool(peak < limit / MIB),
            "peak_cluster_process_mib": round(float(cluster_total.max()) / MIB, 1),
            "cluster_process_measure": "MemorySampler measure='process': RSS summed over the workers",
            "per_worker": per_worker,
            "worker_processes_seen": len(pids),
            "restarted": len(pids) > args.workers or logs["nannies"]["restarts"] > 0,
            "paused": any("paused" in s for v in per_worker.values() for s in v["statuses_seen"]),
            "workers_at_end": len(final_workers),
            "memory_log_lines": logs,
            "tasks": task_summary(tasks),
            "warnings": sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught}),
            "watch_errors": watch.errors[:5],
        }
    )
    if decision is not None:
        out["_decision"] = decision_to_dict(decision)
        out["result"] = summary(out["_decision"])
    return out


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--local-rows", type=int, default=5_000_000, help="rows both engines compare (M)")
    parser.add_argument("--file-rows", type=int, default=500_000, help="rows per Parquet file")
    parser.add_argument("--segments", type=int, default=50)
    parser.add_argument("--key", action="append", help="key segment value(s) (default: s07, s23)")
    parser.add_argument("--max-regression", type=float, default=0.0, help="key segments' tolerance")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--int-labels", action="store_true", help="labels 0/1 (default 'yes'/'no')")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="512MiB", help="per worker (below the data's size)")
    parser.add_argument("--workdir", help="where the data go (default: a new folder under /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the data")
    parser.add_argument(
        "--stall-seconds",
        type=float,
        default=60,
        help="engine dask: give up when every worker has been paused this long (a memory deadlock)",
    )
    parser.add_argument("--timeout", type=float, default=1800, help="engine dask: give up after this long")
    parser.add_argument("--skip-full", action="store_true", help="only the M-row comparison")
    parser.add_argument("--skip-local", action="store_true", help="only engine dask on N rows")
    args = parser.parse_args()
    width = len(str(args.segments - 1))
    args.key = args.key or [f"s{7 % args.segments:0{width}d}", f"s{23 % args.segments:0{width}d}"]

    import dask
    import distributed

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="dask-scale-", dir="/tmp"))
    args.dask_space = workdir / "dask-space"
    policy = make_policy(args)
    report: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "dask": dask.__version__,
            "distributed": distributed.__version__,
            "pandas": pd.__version__,
        },
        "job": {
            "rows": args.rows,
            "segments": args.segments,
            "metrics": METRICS,
            "key_segments": [f"{SEGMENT}={k}" for k in args.key],
            "resamples": args.resamples,
            "labels": "0/1" if args.int_labels else "yes/no",
            "workers": args.workers,
            "threads_per_worker": 1,
            "memory_limit_per_worker": args.memory_limit,
        },
    }
    try:
        data = write_dataset(workdir / "full", args)
        files = data.pop("_files")
        report["data"] = data
        print(f"wrote {data['files']} files, {data['on_disk_mib']} MiB on disk", file=sys.stderr)
        if not args.skip_full:
            full = run_dask(str(workdir / "full"), policy, args, "full")
            full.pop("_decision", None)
            report["dask_full"] = full
            print(f"dask on {args.rows} rows: {full['seconds']} s, ok={full['ok']}", file=sys.stderr)
        if not args.skip_local:
            chosen, folder = subset_folder(files, args.file_rows, args.local_rows, workdir / "subset")
            side: dict[str, Any] = {
                "rows": min(args.rows, len(chosen) * args.file_rows),
                "files": len(chosen),
            }
            dask_small = run_dask(str(folder), policy, args, "subset")
            print(f"dask on {side['rows']} rows: {dask_small['seconds']} s", file=sys.stderr)
            with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
                local = pool.submit(run_local, chosen, policy).result()
            print(f"local on {local['rows']} rows: {local['seconds']} s", file=sys.stderr)
            local_decision = local.pop("_decision")
            local["result"] = summary(local_decision)
            side["local"] = local
            dask_decision = dask_small.pop("_decision", None)
            side["dask"] = dask_small
            side["seconds"] = {"local": local["seconds"], "dask": dask_small["seconds"]}
            side["local_rss_extrapolated_to_full_mib"] = round(
                local["rss_after_imports_mib"]
                + (local["peak_rss_mib"] - local["rss_after_imports_mib"])
                * args.rows
                / max(local["rows"], 1),
                0,
            )
            if dask_decision is not None:
                side["agreement"] = agreement(local_decision, dask_decision)
            report["same_rows"] = side
    finally:
        if args.keep:
            report["kept"] = str(workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
