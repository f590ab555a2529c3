"""Great Expectations 1.x suites stored as JSON: load them strictly, run them, report failures.

great_expectations is imported lazily: it costs seconds and the pure core must stay fast.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from gatekeeper.config import DataChecks
from gatekeeper.data.tolerance import beyond_noise
from gatekeeper.errors import ExpectationSuiteError, did_you_mean
from gatekeeper.serialize import jsonable
from gatekeeper.vocabulary import Check, Effect, TableName

_RESULT_KEYS = (
    "observed_value",
    "unexpected_count",
    "unexpected_percent",
    "element_count",
    "partial_unexpected_list",
    "missing_count",
)


def read_suite_file(path: Path) -> dict[str, Any]:
    """Read a suite JSON file; its `name` must equal the file stem."""
    if not path.exists():
        available = sorted(p.stem for p in path.parent.glob("*.json")) if path.parent.exists() else []
        raise ExpectationSuiteError(
            f"expectation suite {path.stem!r} not found: no file {str(path)!r}"
            f"{did_you_mean(path.stem, available)}; suites there: {available or 'none'}"
        )
    try:
        spec = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ExpectationSuiteError(f"suite file {str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("expectations"), list):
        raise ExpectationSuiteError(f"suite file {str(path)!r} must be an object with a list `expectations`")
    if spec.get("name", path.stem) != path.stem:
        raise ExpectationSuiteError(
            f"suite file {str(path)!r} names itself {spec.get('name')!r}; "
            f"the name must equal the file stem {path.stem!r}"
        )
    if not spec["expectations"]:
        raise ExpectationSuiteError(f"suite {path.stem!r} holds no expectations: it would pass anything")
    return spec


def _quiet_gx() -> None:
    """GX logs INFO lines about temporary docs sites and skipped entries; we report instead."""
    for name in [n for n in logging.root.manager.loggerDict if n.startswith("great_expectations")]:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    logging.getLogger("great_expectations").setLevel(logging.CRITICAL)


def build_suite(spec: dict[str, Any], source: str) -> Any:
    """Build a GX ExpectationSuite, failing closed if GX drops any entry.

    GX 1.x logs and skips an entry it cannot build, so each entry is probed on its own first
    (to name the bad one) and the whole suite is counted after.
    """
    import great_expectations as gx

    _quiet_gx()
    entries = spec["expectations"]
    for i, entry in enumerate(entries):
        kind = entry.get("type") if isinstance(entry, dict) else entry
        try:
            built = len(gx.ExpectationSuite(name="probe", expectations=[entry]).expectations)
        except Exception as exc:
            raise ExpectationSuiteError(
                f"{source}: expectations[{i}] (type {kind!r}) is not a valid GX 1.x expectation: {exc}"
            ) from None
        if built != 1:
            raise ExpectationSuiteError(
                f"{source}: expectations[{i}] (type {kind!r}) is not a valid "
                "GX 1.x expectation (GX skipped it)"
            )
    suite = gx.ExpectationSuite(name=spec.get("name", "suite"), expectations=entries)
    if len(suite.expectations) != len(entries):
        raise ExpectationSuiteError(
            f"{source}: loaded {len(suite.expectations)} of {len(entries)} expectations"
        )
    return suite


@functools.lru_cache(maxsize=32)
def _checked_spec(path: str, mtime_ns: int) -> dict[str, Any]:
    """Read and check a suite once per file version: the per-entry probe costs a GX build per entry,
    and the same suite runs on several tables and key segments in one gate run."""
    spec = read_suite_file(Path(path))
    build_suite(spec, path)
    return spec


# A passed expectation of these types passes on any subset of the rows: a column's type is the
# whole column's (or, checked per value, no value had the wrong type).
_TYPE_EXPECTATIONS = {"expect_column_values_to_be_in_type_list", "expect_column_values_to_be_of_type"}


def expectation_key(kind: str, kwargs: dict[str, Any]) -> tuple[str, str]:
    """An expectation's identity in a suite: its type and arguments (`batch_id` aside)."""
    args = {k: v for k, v in kwargs.items() if k != "batch_id"}
    return kind, json.dumps(_numbers_as_floats(jsonable(args)), sort_keys=True, default=str)


def _numbers_as_floats(value: Any) -> Any:
    """GX echoes a suite's 16 as 16.0: one spelling for both."""
    if isinstance(value, dict):
        return {k: _numbers_as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers_as_floats(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def passes_on_any_subset(check: Check) -> frozenset[tuple[str, str]]:
    """The expectation behind `check` (a whole table's result), if it cannot fail on a subset of the
    table's rows: it passed with no unexpected row (a per-row expectation), or it is a type check
    that passed. Validating a key segment's rows skips these: only expectations that saw unexpected
    rows (hidden by `mostly`), failed, or judge an aggregate (a mean, a count) are run again."""
    observed = check.observed if isinstance(check.observed, dict) else {}
    kind = observed.get("expectation")
    if not check.holds or kind is None or not isinstance(check.threshold, dict):
        return frozenset()
    if observed.get("unexpected_count") == 0 or kind in _TYPE_EXPECTATIONS:
        return frozenset({expectation_key(kind, check.threshold)})
    return frozenset()


def _suite(
    suite_path: Path, skip: frozenset[tuple[str, str]] = frozenset(), columns_only: bool = False
) -> Any:
    import great_expectations as gx

    if not suite_path.exists():
        read_suite_file(suite_path)  # raises, naming the suites that do exist
    spec = _checked_spec(str(suite_path), suite_path.stat().st_mtime_ns)
    expectations = [
        e
        for e in spec["expectations"]
        if expectation_key(e["type"], e.get("kwargs", {})) not in skip
        and not (columns_only and "column" not in e.get("kwargs", {}))
    ]
    return gx.ExpectationSuite(name=spec.get("name", suite_path.stem), expectations=expectations)


@dataclass(frozen=True)
class Outcome:
    """One expectation's result as plain values (what a Dask worker sends back)."""

    kind: str
    kwargs: dict[str, Any]
    meta: dict[str, Any]
    success: bool
    details: dict[str, Any]


def suite_outcomes(
    frame: pd.DataFrame,
    suite_path: Path,
    table: TableName,
    *,
    on_segment: bool = False,
    skip: frozenset[tuple[str, str]] = frozenset(),
) -> tuple[str, list[Outcome]]:
    """The suite's name and each expectation's result on `frame`."""
    import great_expectations as gx

    # on a segment's rows only column expectations say anything (a table's size or columns are the table's)
    suite_obj = _suite(Path(suite_path), skip, columns_only=on_segment)
    if on_segment and not suite_obj.expectations:
        return suite_obj.name, []  # nothing that could fail on these rows
    _quiet_gx()
    context = gx.get_context(mode="ephemeral")
    try:
        context.variables.progress_bars = {"globally": False}  # type: ignore[assignment]
    except Exception:  # older configs: progress bars are cosmetic
        pass
    source = context.data_sources.add_pandas(f"gate-{table}")
    batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe(table)
    suite = context.suites.add(suite_obj)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{table}-{suite.name}", data=batch, suite=suite)
    )
    result = definition.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")
    return suite.name, [_outcome(r) for r in result.results]


def _outcome(result: Any) -> Outcome:
    cfg = result.expectation_config
    details = {k: result.result.get(k) for k in _RESULT_KEYS if result.result.get(k) is not None}
    if result.exception_info and result.exception_info.get("raised_exception"):
        details["exception"] = str(result.exception_info.get("exception_message"))[:300]
    return Outcome(
        cfg.type,
        {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id",)},
        dict(cfg.meta or {}),
        bool(result.success),
        jsonable(details),
    )


def run_suite(
    frame: pd.DataFrame,
    suite_path: Path,
    table: TableName,
    *,
    rules: DataChecks | None = None,
    segment: str | None = None,
    skip: frozenset[tuple[str, str]] = frozenset(),
) -> list[Check]:
    """Validate `frame` (a table, or one `segment` of it) against the suite; one Check per expectation.

    A failed expectation blocks, unless it describes the reference (`meta.role: reference`, as
    starter suites mark rates, bounds and category sets) or, on a segment's rows, carries a
    `mostly`: then it blocks only when the change is at least the effect floor of `rules` and
    beyond what sampling noise shows at that many rows; otherwise it warns.
    """
    name, outcomes = suite_outcomes(frame, suite_path, table, on_segment=segment is not None, skip=skip)
    judged = rules or DataChecks()
    return [check_of(o, table, name, judged, segment is not None) for o in outcomes]


FLOORS = {  # the effect floor of a reference expectation: the matching per-segment data check's
    "expect_column_values_to_not_be_null": "max_null_increase",
    "expect_column_values_to_be_between": "max_out_of_range_increase",
    "expect_column_values_to_be_in_set": "max_new_category_share",
}


def judge_failure(
    kind: str,
    meta: dict[str, Any],
    kwargs: dict[str, Any],
    details: dict[str, Any],
    rules: DataChecks,
    on_segment: bool,
) -> tuple[Effect, str]:
    """The effect of a failed expectation, and why when it does not block."""
    role, share_kept = meta.get("role"), kwargs.get("mostly")
    sizable = role == "reference" or (role is None and on_segment)
    unexpected, rows = details.get("unexpected_count"), details.get("element_count")
    if role == "invariant" or not sizable or share_kept is None or unexpected is None or not rows:
        return "block", ""
    if kind != "expect_column_values_to_not_be_null":
        rows -= details.get("missing_count") or 0
    if rows <= 0:
        return "block", ""
    tolerated = 1.0 - float(share_kept)
    floor_name = FLOORS.get(kind, "max_new_category_share")
    floor = float(getattr(rules, floor_name))
    excess = unexpected / rows - tolerated
    noise = not beyond_noise(int(unexpected), int(rows), tolerated)
    if excess >= floor and not noise:
        return "block", ""
    why = (
        f"within the sampling noise of {rows:,} rows (tolerated {tolerated:.2%})"
        if noise
        else f"{excess:+.2%} beyond the tolerated {tolerated:.2%}, smaller than the effect floor "
        f"data_checks.{floor_name}={floor:g}"
    )
    return "warn", f" ({why}: reported, not blocking)"


def check_of(outcome: Outcome, table: TableName, suite: str, rules: DataChecks, on_segment: bool) -> Check:
    """The gate's Check of one expectation's outcome, with its effect judged."""
    kwargs, column = outcome.kwargs, outcome.kwargs.get("column")
    details = {**outcome.details, "expectation": outcome.kind}
    if outcome.meta.get("role"):
        details["role"] = outcome.meta["role"]
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if k != "column")
    what = f"{outcome.kind}({column + (', ' if args else '') if column else ''}{args})"
    effect: Effect = "none"
    message = f"{table}: {what} passed"
    if not outcome.success:
        effect, why = judge_failure(outcome.kind, outcome.meta, kwargs, details, rules, on_segment)
        message = f"{table} (suite {suite}): {what} failed: {_describe(details)}{why}"
    return Check(
        "validation.expectation",
        effect,
        message,
        column=column,
        table=table,
        observed=jsonable(details),
        threshold=jsonable(kwargs),
    )


def _describe(details: dict[str, Any]) -> str:
    if "exception" in details:
        return f"error: {details['exception']}"
    parts = []
    if "unexpected_percent" in details:
        parts.append(
            f"{details['unexpected_percent']:.2f}% of {details.get('element_count', '?')} values unexpected"
        )
    if "observed_value" in details:
        parts.append(f"observed {details['observed_value']!r}")
    sample = details.get("partial_unexpected_list")
    if sample and any(v is not None and v == v for v in sample):
        parts.append(f"e.g. {[v for v in sample if v is not None and v == v][:5]!r}")
    return "; ".join(parts) or "failed"
