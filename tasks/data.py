"""Load, validate and quarantine the gate's tables."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

from prefect import get_run_logger

from gatekeeper.config import GateConfig, load_config
from gatekeeper.data import tables as gate_data
from gatekeeper.data.checks import broken_feature_checks, label_checks_against_reference
from gatekeeper.data.drift import drift_report
from gatekeeper.data.segments import config_segments, rows_where
from gatekeeper.data.slice_checks import slice_checks
from gatekeeper.data.sources import allowed_roots, check_batch_source
from gatekeeper.data.structure import segment_cap_checks, structural_checks
from gatekeeper.data.suite_units import expectations_in_units
from gatekeeper.data.suites import passes_on_any_subset, run_suite
from gatekeeper.data.tables import GateTables, feature_columns
from gatekeeper.errors import ConfigError
from gatekeeper.findings import DriftResult
from gatekeeper.serialize import jsonable
from gatekeeper.uris import parse_model_uri
from gatekeeper.vocabulary import TABLES, Check
from tasks import gate_task, retry_if

# a remote batch that could not be fetched is retried, never a file that is missing or malformed
retry_when_transient_read = retry_if(gate_data.is_transient_read)


@gate_task
def read_gate_config(
    config: GateConfig | str,
    new_labels: str | None = None,
    model_name: str | None = None,
    candidate: str | None = None,
) -> GateConfig:
    """The config (a GateConfig, or a YAML path as deployments pass it), with the arrived batch and,
    when given, a candidate trained elsewhere (an MLflow model URI) in place of the config's."""
    if isinstance(config, str):
        config = load_config(config)
    if model_name and model_name != config.model_name:
        raise ConfigError(
            f"the run was asked to gate model {model_name!r}, but its config names model_name "
            f"{config.model_name!r}: point the deployment at that model's config"
        )
    if new_labels:
        batch = new_labels if "://" in new_labels else str(Path(new_labels).resolve())
        check_batch_source(config, batch)  # before anything is read
        # the roots stay the config's (not the batch's own folder): `load_tables` checks again
        roots = allowed_roots(config)
        data = config.data.model_copy(update={"new_labels": batch, "allowed_roots": roots})
        config = config.model_copy(update={"data": data})
        get_run_logger().info("new labels for %s: %s", config.model_name, batch)
    if candidate:
        config = config.model_copy(update={"candidate": parse_model_uri(candidate).uri})
        get_run_logger().info("candidate for %s: %s (trained elsewhere)", config.model_name, config.candidate)
    check_creatable(config.resolved_quarantine_dir, "quarantine_dir")  # a blocked batch must have a place
    if config.compute.engine == "dask" and config.expectations.evaluation:
        from gatekeeper.data.lazy import check_suite_fits

        check_suite_fits(config.suite_path(config.expectations.evaluation))  # before a cluster starts
    return config


@gate_task(retries=2, retry_delay_seconds=5, retry_condition_fn=retry_when_transient_read)
def load_tables(config: GateConfig) -> GateTables:
    """Read train, new labels and evaluation data; check the config names real columns."""
    logger = get_run_logger()
    if "://" not in config.data.new_labels:
        # again at the moment of reading, links resolved now: a link swapped in while the gate waited
        # for the model's lock (after `read_gate_config` checked it) is followed no further
        check_batch_source(config, str(Path(config.data.new_labels).resolve()))
    tables = gate_data.load_tables(config)
    gate_data.check_config_against(config, tables)
    for name in TABLES:
        frame = tables.table(name)
        rows = tables.n_evaluation if name == "evaluation" else len(frame)
        logger.info("loaded %s: %d rows x %d columns from %s", name, rows, frame.shape[1], tables.paths[name])
    if tables.lazy_evaluation is not None:
        logger.info(
            "evaluation rows stay on the Dask cluster in %d partitions; %d sampled rows here for the "
            "label-noise baseline, the learning curve, discovery and explanations",
            tables.lazy_evaluation.npartitions,
            len(tables.evaluation),
        )
    return tables


@gate_task
def validate_tables(config: GateConfig, tables: GateTables) -> list[Check]:
    """Structural checks on every table, then the configured GX suites."""
    logger = get_run_logger()
    features = feature_columns(config, tables.train)
    checks: list[Check] = []
    whole: list[Check] = []  # the new labels' suite results on the whole batch
    lazy = tables.lazy_evaluation
    for name in TABLES:
        if name == "evaluation" and tables.evaluation_shape is not None:  # merged from partitions
            checks += structural_checks(tables.evaluation_shape, name, config, tables.train, features)
        else:
            checks += structural_checks(tables.table(name), name, config, tables.train, features)
    checks += segment_cap_checks(tables.new_labels, "new_labels", config)
    if lazy is None:
        checks += segment_cap_checks(tables.evaluation, "evaluation", config)
    broken = broken_feature_checks(tables.train, tables.new_labels, features, config)
    if broken:
        logger.warning("%d feature(s) look broken in the new batch (per-segment checks)", len(broken))
    checks += broken
    configured = {name for name, _ in config_segments(tables.new_labels, config)}
    sliced = slice_checks(
        tables.train, tables.new_labels, features, config, known=broken, configured=configured
    )
    if sliced:
        logger.warning("%d fault(s) in slices nobody configured (slice search)", len(sliced))
    checks += sliced
    checks += label_checks_against_reference(tables.train, tables.new_labels, config)
    for name in TABLES:
        suite = getattr(config.expectations, name)
        if suite and name == "evaluation" and lazy is not None:
            from gatekeeper.data.lazy import run_suite_on_dask

            results = run_suite_on_dask(lazy, config.suite_path(suite), name, config.data_checks)
        elif suite and len(tables.table(name)):
            results = run_suite(tables.table(name), config.suite_path(suite), name, rules=config.data_checks)
            if name == "new_labels":
                results = expectations_in_units(results, tables.train, tables.new_labels, config)
        else:
            continue
        failed = [c for c in results if not c.holds]
        logger.info(
            "suite %s on %s: %d of %d expectations passed",
            suite,
            name,
            len(results) - len(failed),
            len(results),
        )
        checks += results
        if name == "new_labels":
            whole = results
    checks += _suite_per_key_segment(config, tables, whole)
    for check in checks:
        if check.stops:
            logger.warning("validation failed: %s", check.message)
    return checks


def _suite_per_key_segment(config: GateConfig, tables: GateTables, whole: list[Check]) -> list[Check]:
    """The new labels' column expectations again on each key segment's rows: a breakage confined to a
    small segment hides in the whole table's `mostly` thresholds. Expectations that cannot fail on a
    subset given the whole batch's result (no unexpected row at all, a passed type check) are not
    run again."""
    suite = config.expectations.new_labels
    batch = tables.new_labels
    if not suite or not len(batch):
        return []
    skip = frozenset().union(*(passes_on_any_subset(c) for c in whole))
    found: list[Check] = []
    for key in config.key_segments:
        if not all(col in batch.columns for col in key.where):
            found.append(
                Check(
                    "validation.key_segment_unchecked",
                    "warn",
                    f"key segment {key.name} was not validated in the new labels: they lack its columns",
                    segment=key.name,
                    table="new_labels",
                )
            )
            continue
        index = rows_where(batch, key.where)
        if len(index) < config.data_checks.min_rows:
            continue
        results = run_suite(
            batch.iloc[index],
            config.suite_path(suite),
            "new_labels",
            rules=config.data_checks,
            segment=key.name,
            skip=skip,
        )
        results = expectations_in_units(
            results,
            tables.train,
            batch,
            config,
            reference_rows=rows_where(tables.train, key.where)
            if all(col in tables.train.columns for col in key.where)
            else None,
            batch_rows=index,
        )
        found += [
            replace(c, segment=key.name, message=f"[{key.name}] {c.message}")
            for c in results
            if not c.holds and c.column is not None
        ]
    return found


@gate_task
def measure_drift(config: GateConfig, tables: GateTables) -> list[DriftResult]:
    """PSI and a two-sample test per feature, overall and per segment: new labels against train."""
    features = feature_columns(config, tables.train)
    drift = drift_report(tables.train, tables.new_labels, features, config)
    drifted = [d for d in drift if d.drifted]
    get_run_logger().info(
        "drift: %d of %d feature-segment pairs beyond PSI %.2f",
        len(drifted),
        len(drift),
        config.data_checks.psi_threshold,
    )
    return drift


def check_creatable(folder: Path, key: str) -> None:
    """ConfigError naming `key` when `folder` can neither be found nor made: its nearest existing
    ancestor is a file, or a folder this process cannot write in. Creates nothing."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.is_dir() and os.access(probe, os.W_OK | os.X_OK):
        return
    why = "is a file, not a folder" if not probe.is_dir() else "is a folder this process cannot write in"
    raise ConfigError(
        f"`{key}`: {folder} cannot be made ({probe} {why}); a blocked batch is copied there: "
        f"name a folder that exists or can be created"
    )


@gate_task
def quarantine_batch(config: GateConfig, tables: GateTables, checks: list[Check], run_label: str) -> str:
    """Copy every table that failed validation, with a JSON report of its failures. Deletes nothing."""
    logger = get_run_logger()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = config.resolved_quarantine_dir / config.model_name / f"{stamp}-{run_label}"
    folder.mkdir(parents=True, exist_ok=True)
    failed = [c for c in checks if c.stops]
    bad_tables = sorted({c.table for c in failed if c.table}) or ["new_labels"]
    for name in bad_tables:
        source = tables.paths[name]
        if name == "evaluation" and tables.lazy_evaluation is not None:
            logger.warning(
                "the evaluation dataset %s is left where it is, not copied (engine dask: it need not fit on "
                "this machine); report.json holds the fingerprint of its files",
                source,
            )
            continue
        target = folder / f"{name}{_suffix(source)}"
        if "://" in source:
            import fsspec

            with fsspec.open(source, "rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            shutil.copy2(source, target)
    report = {
        "model_name": config.model_name,
        "quarantined_at": stamp,
        "tables": {n: {"source": tables.paths[n], "sha256": tables.hashes[n]} for n in bad_tables},
        "failed_checks": [jsonable(asdict(c)) for c in failed],
    }
    (folder / "report.json").write_text(json.dumps(report, indent=2))
    logger.warning("quarantined %s in %s", ", ".join(bad_tables), folder)
    return str(folder)


def _suffix(path: str) -> str:
    name = Path(path.split("://")[-1]).name
    return name[name.index(".") :] if "." in name else ""
