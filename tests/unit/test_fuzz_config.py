"""Fuzzing the gate's configuration (issue 14): malformed configs end in one ConfigError naming the field.

Hypothesis starts from a valid config and plants 1-3 faults drawn from a table of invalid values per
field (wrong types, out-of-range and non-finite numbers, bad enums, empty lists and mappings, garbage
URIs and patterns), typos of real keys at every level of nesting, keys that are not strings, missing
required keys, whole sections replaced by scalars or lists; the YAML test also breaks the text itself
and puts a list or a scalar at the top level. Each fault is known to be invalid by construction, so
the property is strict: `ConfigError` and nothing else, one paragraph (no newline, no traceback, a
bounded length), naming the key path of a planted fault (`key_segments[0].where`, `compute.engine`)
or, for text that is not a mapping, the file and where in it. Examples are derandomized (the same
ones in every run and in CI) and the database is off, so a run never depends on an earlier one.
"""

from __future__ import annotations

import copy
import math
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gatekeeper.config import GateConfig, load_config, parse_config
from gatekeeper.errors import ConfigError
from tests.fuzzing import examples

FUZZ = settings(max_examples=examples(400), deadline=None, suppress_health_check=list(HealthCheck))


def _base() -> dict[str, Any]:
    return {
        "model_name": "fraud-detector",
        "target": "is_fraud",
        "data": {"train": "train.parquet", "new_labels": "new.parquet", "evaluation": "eval.parquet"},
        "expectations": {"directory": "expectations", "train": "suite", "new_labels": "suite"},
        "segments": ["browser", ["browser", "country"]],
        "key_segments": [{"where": {"browser": "chrome-beta"}, "max_regression": 0.0}],
        "upweight": [{"where": {"browser": "chrome-beta"}, "weight": 2.0}],
        "primary_metric": "roc_auc",
        "secondary_metrics": ["log_loss"],
        "statistics": {"n_resamples": 200},
        "discovery": {"top_k": 3},
        "data_checks": {"min_rows": 30},
        "triage": {"min_rows": 100},
        "review": {"reviewers": ["ana"]},
        "lock": {"wait_minutes": 5},
        "compute": {"engine": "local"},
        "prediction": {"method": "auto"},
    }


def test_the_base_config_is_valid() -> None:
    parse_config(_base())


# ------------------------------------------------------------------ invalid values, by field

TEXT = st.text(min_size=1, max_size=12)
NOT_A_STRING = st.one_of(
    st.integers(), st.floats(allow_nan=False), st.booleans(), st.lists(st.integers(), max_size=2)
)
NOT_A_NUMBER = st.one_of(
    TEXT.filter(lambda s: _not_numeric(s)), st.lists(st.integers(), max_size=2), st.just({})
)
NOT_A_LIST = st.one_of(st.integers(), st.just({"a": 1}), st.booleans())
NOT_A_MAPPING = st.one_of(st.integers(), TEXT, st.lists(st.integers(), max_size=2), st.booleans())
NEGATIVE = st.floats(max_value=-1e-9, allow_nan=False)
NON_FINITE = st.sampled_from([math.nan, -math.inf])
BAD_ENUM = st.sampled_from(["", "maybe", "Block", "blok", "yes", "ROC_AUC", "auc", "dask!", "spark"])


def _not_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return True
    return False


def below(limit: float, integer: bool = False) -> st.SearchStrategy[Any]:
    """Numbers under a `ge`/`gt` bound (including the bound for `gt`, handled by the caller)."""
    if integer:
        return st.integers(max_value=math.ceil(limit) - 1)
    return st.one_of(st.floats(max_value=limit, exclude_max=True, allow_nan=False), st.just(math.nan))


def above(limit: float, integer: bool = False) -> st.SearchStrategy[Any]:
    if integer:
        return st.integers(min_value=int(limit) + 1, max_value=10**12)
    return st.one_of(st.floats(min_value=limit, exclude_min=True), st.just(math.nan))


def range_fault(
    low: float | None,
    high: float | None,
    integer: bool = False,
    strict_low: bool = False,
    strict_high: bool = False,
) -> Any:
    """Values outside [low, high] (exclusive bounds when `strict` says so), wrong types, non-integers."""
    options = [NOT_A_NUMBER]
    if low is not None:
        options.append(st.just(low) if strict_low else below(low, integer))
        if not integer:
            options.append(below(low))
    if high is not None:
        options.append(st.just(high) if strict_high else above(high, integer))
    if integer:
        options.append(st.floats(allow_nan=False, allow_infinity=False).filter(lambda v: v != int(v)))
    return st.one_of(options)


# (key path, strategy of values the field must refuse). Paths use the config's own spelling.
FAULTS: list[tuple[str, st.SearchStrategy[Any]]] = [
    ("model_name", st.one_of(st.just(""), st.sampled_from(["has space", "-lead", "a/b", "ü"]), NOT_A_STRING)),
    ("target", st.one_of(st.just(""), NOT_A_STRING, st.none())),
    (
        "tracking_uri",
        st.one_of(
            st.sampled_from(["file:///tmp/mlruns", "./mlruns", "localhost:5000", "http://", "sqlite://x.db"]),
            NOT_A_STRING,
        ),
    ),
    ("data", NOT_A_MAPPING),
    ("data.train", st.one_of(NOT_A_STRING, st.none())),
    ("data.new_labels", st.one_of(NOT_A_STRING, st.none())),
    ("data.allowed_roots", st.one_of(NOT_A_LIST, st.lists(st.integers(), min_size=1, max_size=2))),
    ("expectations", st.one_of(NOT_A_MAPPING, st.just({}), st.just({"directory": "x"}))),
    ("expectations.directory", st.one_of(NOT_A_STRING, st.none())),
    ("features", st.one_of(NOT_A_LIST, st.lists(st.integers(), min_size=1, max_size=2))),
    ("id_columns", st.one_of(NOT_A_LIST, st.just([None]))),
    ("segments", st.one_of(NOT_A_LIST, st.just([[]]), st.just([5]), st.just([["a", []]]))),
    ("key_segments", st.one_of(NOT_A_LIST, st.just([{}]), st.just(["browser"]))),
    ("key_segments[0].where", st.one_of(st.just({}), NOT_A_MAPPING, st.just({"browser": [1, 2]}))),
    ("key_segments[0].max_regression", range_fault(0.0, None)),
    ("key_segments[0].on_missing", BAD_ENUM),
    ("key_segments[0].on_at_risk", BAD_ENUM),
    ("upweight[0].weight", range_fault(0.0, None, strict_low=True)),
    ("upweight[0].where", st.one_of(st.just({}), NOT_A_MAPPING)),
    ("primary_metric", st.one_of(BAD_ENUM, NOT_A_STRING, st.just("rmse"))),
    ("secondary_metrics", st.one_of(NOT_A_LIST, st.just(["bogus"]), st.just(["r2"]))),
    ("task", BAD_ENUM),
    ("min_improvement", range_fault(0.0, None)),
    ("min_relative_improvement", range_fault(0.0, None)),
    ("absolute_floor", NOT_A_NUMBER),
    ("min_segment_rows", range_fault(1, None, integer=True)),
    ("min_class_rows", range_fault(1, None, integer=True)),
    ("positive_label", st.one_of(st.just([1]), st.just({"a": 1}))),
    ("time_folds", range_fault(2, 12, integer=True)),
    ("max_churn", range_fault(0.0, 1.0, strict_low=True)),
    ("max_gap_increase", range_fault(0.0, None)),
    ("statistics", NOT_A_MAPPING),
    ("statistics.confidence_level", range_fault(0.5, 1.0, strict_low=True, strict_high=True)),
    ("statistics.n_resamples", range_fault(100, 100_000, integer=True)),
    ("statistics.correction", BAD_ENUM),
    ("statistics.bins", range_fault(8, 4096, integer=True)),
    ("discovery.max_conditions", range_fault(1, 2, integer=True)),
    ("discovery.min_rows", range_fault(20, None, integer=True)),
    ("discovery.action", BAD_ENUM),
    ("data_checks.min_rows", range_fault(5, None, integer=True)),
    ("data_checks.max_null_increase", range_fault(0.0, 1.0, strict_low=True)),
    ("data_checks.constant_share", range_fault(0.5, 1.0, strict_low=True)),
    ("data_checks.psi_bins", range_fault(2, 100, integer=True)),
    ("data_checks.slice_alpha", range_fault(0.0, 0.5, strict_low=True, strict_high=True)),
    ("data_checks.search_slices", st.sampled_from(["sometimes", 2, [True]])),
    ("triage.min_skill_auc", range_fault(0.5, 1.0)),
    ("triage.min_rows", range_fault(10, None, integer=True)),
    ("triage.retrain_cost", range_fault(0.0, None)),
    ("triage.learning_curve_rows", range_fault(1_000, None, integer=True)),
    ("trainer", st.one_of(st.sampled_from(["not a path", "module", "a:b:c", ":f", "1mod:f"]), NOT_A_STRING)),
    (
        "candidate",
        st.sampled_from(["models:/m", "s3://bucket/model", "runs:/xyz/model", "models:/m-abc", ""]),
    ),
    ("review.wait_in_ui", BAD_ENUM),
    ("review.timeout_minutes", range_fault(0.0, None, strict_low=True)),
    ("review.reviewers", st.one_of(NOT_A_LIST, st.just([None]))),
    ("lock.wait_minutes", range_fault(0.0, None, strict_low=True)),
    ("compute", st.one_of(NOT_A_MAPPING, st.just("dask"))),
    ("compute.engine", BAD_ENUM),
    ("compute.address", st.sampled_from(["localhost:8786", "http://x:1", "tcp://", "tcp:// x"])),
    ("compute.n_workers", range_fault(1, 512, integer=True)),
    ("compute.memory_limit", st.sampled_from(["lots", "-1GiB", "2 GB!", "", "1e9"])),
    ("compute.sample_rows", range_fault(1_000, None, integer=True)),
    ("compute.fit_threads", range_fault(1, 512, integer=True)),
    ("prediction.method", BAD_ENUM),
    ("workdir", st.one_of(NOT_A_STRING, st.none())),
]

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _steps(path: str) -> list[str | int]:
    return [int(index) if index else name for name, index in _STEP.findall(path)]


def _walk(raw: dict[str, Any], steps: list[str | int]) -> Any:
    """The node at `steps`, or None where an earlier fault replaced a section by something else."""
    node: Any = raw
    for step in steps:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    return node if isinstance(node, dict | list) else None


def _set(raw: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = _steps(path)
    node = _walk(raw, parents)
    if (isinstance(node, dict) and isinstance(last, str)) or (
        isinstance(node, list) and isinstance(last, int)
    ):
        node[last] = value  # type: ignore[index]


def _models() -> dict[str, Any]:
    """The model at each nesting level the base config has: typos are planted in each."""
    fields = GateConfig.model_fields
    out: dict[str, Any] = {"": GateConfig}
    sections = ("data", "expectations", "statistics", "discovery", "data_checks", "triage", "review")
    for name in (*sections, "lock", "compute", "prediction"):
        out[name] = fields[name].annotation
    out["key_segments[0]"] = fields["key_segments"].annotation.__args__[0]  # type: ignore[union-attr]
    out["upweight[0]"] = fields["upweight"].annotation.__args__[0]  # type: ignore[union-attr]
    return out


MODELS = _models()


@st.composite
def typo(draw: st.DrawFn) -> tuple[str, Any]:
    """A misspelt real key (dropped, doubled, swapped or upper-cased letter) at some level."""
    level = draw(st.sampled_from(sorted(MODELS)))
    fields = list(MODELS[level].model_fields)
    key = draw(st.sampled_from(fields))
    i = draw(st.integers(0, len(key) - 1))
    kind = draw(st.sampled_from(["drop", "double", "swap", "upper", "plural", "dash"]))
    wrong = {
        "drop": key[:i] + key[i + 1 :],
        "double": key[:i] + key[i] + key[i:],
        "swap": key[:i] + key[i + 1 : i + 2] + key[i] + key[i + 2 :],
        "upper": key[:i] + key[i].upper() + key[i + 1 :],
        "plural": key + "s",
        "dash": key.replace("_", "-"),
    }[kind]
    if wrong in fields or not wrong:
        wrong = key + "_x"
    path = f"{level}.{wrong}" if level else wrong
    return path, draw(st.one_of(st.integers(0, 5), TEXT, st.booleans()))


@st.composite
def fault(draw: st.DrawFn) -> tuple[str, Any]:
    kind = draw(st.sampled_from(["value", "value", "value", "typo", "missing", "odd-key"]))
    if kind == "typo":
        return draw(typo())
    if kind == "missing":
        return draw(st.sampled_from(REQUIRED)), _MISSING
    if kind == "odd-key":  # YAML allows keys that are not strings: `1: x`, `true: x`, `null: x`
        level = draw(st.sampled_from(["", "statistics", "key_segments[0]"]))
        key = draw(st.sampled_from([1, True, None, 2.5]))
        return (f"{level}.{key}" if level else str(key)), _OddKey(key, level)
    path, values = draw(st.sampled_from(FAULTS))
    return path, draw(values)


REQUIRED = ["model_name", "target", "data", "expectations", "data.train", "data.evaluation",
            "key_segments[0].where", "upweight[0].weight"]  # fmt: skip


class _OddKey:
    def __init__(self, key: Any, level: str) -> None:
        self.key, self.level = key, level


_MISSING = object()


def plant(raw: dict[str, Any], path: str, value: Any) -> None:
    if value is _MISSING:
        *parents, last = _steps(path)
        node = _walk(raw, parents)
        if isinstance(node, dict):
            node.pop(last, None)
    elif isinstance(value, _OddKey):
        node = _walk(raw, _steps(value.level))
        if isinstance(node, dict):
            node[value.key] = 1
    else:
        _set(raw, path, value)


def spelled(path: str, value: Any) -> list[str]:
    """How the error may name the fault at `path`: the path, or (a fault deeper in a section that an
    earlier fault replaced) any of its parents."""
    steps = _steps(path)
    names = []
    for end in range(len(steps), 0, -1):
        text = ""
        for step in steps[:end]:
            text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
        names.append(text)
    if isinstance(value, _OddKey):  # named by the mapping that holds it
        return [value.level] if value.level else ["top level"]
    return names


def assert_one_paragraph(message: str) -> None:
    assert "\n" not in message, message
    assert "Traceback" not in message, message
    assert 20 < len(message) < 3000, message


def names_a_fault(faults: list[tuple[str, Any]], message: str) -> bool:
    """The message names a planted fault's path, one of its parents, or an element inside it."""
    return any(
        re.search(f"`{re.escape(name)}[`.\\[]", message)
        or (name == "top level" and "the top level" in message)
        for path, value in faults
        for name in spelled(path, value)
    )


MALFORMED = st.lists(fault(), min_size=1, max_size=3, unique_by=lambda f: f[0])


@FUZZ
@given(faults=MALFORMED)
@example(faults=[("key_segments[0].where", {})])
@example(faults=[("compute", "dask")])
@example(faults=[("True", _OddKey(True, ""))])
@example(faults=[("statistics.1", _OddKey(1, "statistics"))])
def test_a_malformed_config_is_one_config_error_naming_the_field(faults: list[tuple[str, Any]]) -> None:
    """Found by this test: a key YAML reads as a number or boolean (`1:`, `true:`) was named `[1]`, like
    a list index; it is now "`statistics` has a key that is not text: 1 (quote it in the YAML)"."""
    raw = _base()
    for path, value in faults:
        plant(raw, path, value)
    try:
        parse_config(copy.deepcopy(raw))
    except ConfigError as exc:
        message = str(exc)
    else:
        raise AssertionError(f"accepted a malformed config: {faults}")
    assert_one_paragraph(message)
    assert names_a_fault(faults, message), (faults, message)


# ------------------------------------------------------------------ the YAML file itself

BROKEN_YAML = st.sampled_from(
    [
        "model_name: [unclosed\n",
        "model_name: a\n  target: b\n",  # bad indentation
        "a: 1\na: {b: 2\n",
        "key_segments:\n  - where: {browser: chrome-beta\n",
        "\tmodel_name: tab-indented\n",
        "model_name: 'unterminated\n",
        "- a\nb: 1\n",
        "data: !!python/object:os.system {}\n",  # safe_load refuses the tag
        "%YAML 9.9\n---\na: 1\n",
        "{{{{",
        "model_name: x\n@target: y\n",
    ]
)
NOT_A_MAPPING_TEXT = st.one_of(
    st.lists(st.integers(), min_size=1, max_size=3).map(yaml.safe_dump),
    st.sampled_from(["42\n", "just text\n", "true\n", "3.5\n", "'quoted'\n"]),
)


GARBAGE = st.one_of(st.binary(max_size=64), st.binary(max_size=64).map(lambda b: b"\xff\xfe\x00" + b))


@FUZZ
@given(
    text=st.one_of(BROKEN_YAML, NOT_A_MAPPING_TEXT),
    garbage=GARBAGE,
    faults=MALFORMED,
    kind=st.sampled_from(["text", "dict", "dict", "bytes"]),
)
@example(text="", garbage=b"\x89PNG\r\n\x1a\n\x00\x00", faults=[("target", "")], kind="bytes")
@example(text="model_name: [unclosed\n", garbage=b"", faults=[("target", "")], kind="text")
def test_a_malformed_config_file_is_one_config_error_naming_the_file_or_field(
    text: str, garbage: bytes, faults: list[tuple[str, Any]], kind: str
) -> None:
    """Found by this test: a YAML syntax error printed PyYAML's multi-line excerpt with a caret, and
    bytes that are not UTF-8 raised UnicodeDecodeError; both are one-line ConfigErrors now."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "gate.yaml"
        if kind == "bytes":
            path.write_bytes(garbage)
        elif kind == "text":
            path.write_text(text)
        else:
            raw = _base()
            for fault_path, value in faults:
                plant(raw, fault_path, value)
            path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True))
        try:
            load_config(path)
        except ConfigError as exc:
            message = str(exc)
        else:
            raise AssertionError(f"accepted a malformed config file: {path.read_text()}")
    assert_one_paragraph(message)
    assert str(path) in message, message
    if kind == "dict":
        assert names_a_fault(faults, message), (faults, message)
    elif kind == "text" and "line " not in message:  # a YAML error says where; a valid document of the
        assert "mapping of keys" in message, message  # wrong shape, what it holds


def test_a_config_path_that_is_a_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read as text"):
        load_config(tmp_path)


# Thresholds where a huge value is a choice, not a typo: "never" (never promote on so small a gain,
# never call this drift, never block this move); every other number is bounded above at load.
HUGE_MEANS_NEVER = {
    "min_improvement",
    "min_relative_improvement",
    "absolute_floor",
    "max_gap_increase",
    "key_segments[0].max_regression",
    "triage.max_degradation",
    "triage.max_label_shift",
    "triage.retrain_cost",
    "data_checks.range_margin",
    "data_checks.psi_threshold",
}


def _numeric_fields(model: type, prefix: str = "") -> list[tuple[str, type]]:
    """Every int or float key of the config, with the path `parse_config` names it by."""
    import typing

    from pydantic import BaseModel

    found = []
    for name, field in model.model_fields.items():  # type: ignore[attr-defined]
        args = typing.get_args(field.annotation) or (field.annotation,)
        flat = [a for arg in args for a in (typing.get_args(arg) or (arg,))]
        nested = [a for a in flat if isinstance(a, type) and issubclass(a, BaseModel)]
        path = f"{prefix}{name}"
        if nested:
            listed = list in (typing.get_origin(field.annotation), *(typing.get_origin(a) for a in args))
            found += _numeric_fields(nested[0], f"{path}[0]." if listed else f"{path}.")
        elif name not in ("where", "positive_label") and any(
            a in (int, float) for a in flat
        ):  # values, not settings
            found.append((path, float if float in flat else int))
    return found


@pytest.mark.parametrize(("path", "kind"), _numeric_fields(GateConfig))
def test_every_number_is_finite_and_in_range_at_load(path: str, kind: type) -> None:
    """NaN, infinities, a huge and a hugely negative value in every numeric key: refused at load,
    one ConfigError naming the key (they failed late: `absolute_floor: .nan` rejected every
    candidate, `seed: -1` or `review.timeout_minutes: 1e300` after training), except a huge
    threshold that means "never" (`HUGE_MEANS_NEVER`)."""
    values: list[Any] = [math.nan, math.inf, -math.inf, -1e308, 1e308, 10**30, -(10**30)]
    for value in values:
        config = _base()
        _set(config, path, value)
        if path in HUGE_MEANS_NEVER and isinstance(value, int | float) and math.isfinite(value) and value > 0:
            parse_config(config)  # accepted: the policy decides with it (the test after the next)
            continue
        if path == "absolute_floor" and isinstance(value, int | float) and math.isfinite(value):
            parse_config(config)  # a floor on any metric, negative R^2 included
            continue
        with pytest.raises(ConfigError) as caught:
            parse_config(config)
        message = str(caught.value)
        assert f"`{path}`" in message or f"`{path}." in message, (value, message)
        assert "\n" not in message


def test_the_walk_finds_the_numbers_that_failed_late() -> None:
    found = {path for path, _ in _numeric_fields(GateConfig)}
    assert {"absolute_floor", "statistics.seed", "random_state", "upweight[0].weight"} <= found
    assert {"review.timeout_minutes", "lock.wait_minutes", "compute.sample_rows"} <= found


def test_every_never_threshold_at_its_huge_value_is_used_without_error() -> None:
    """Each `HUGE_MEANS_NEVER` threshold at 1e308 where it is read: the policy decides and says why;
    the data checks (range margin, PSI), the regression label check (label shift) and the
    degradation tolerance run and say nothing is beyond it. (`triage.retrain_cost` is added to
    `min_improvement` and compared: inf at worst.)"""
    from gatekeeper.data.checks import broken_feature_checks
    from gatekeeper.data.drift import drift_report
    from gatekeeper.decide import decide
    from gatekeeper.triage.tolerance import degradation_tolerance
    from tests.builders import evidence, make_config
    from tests.unit.test_regression_labels import judge
    from tests.unit.test_regression_labels import world as regression_world
    from tests.worlds import make_world

    def huge(path: str) -> dict[str, Any]:
        keys = path.split(".")
        return {keys[0]: 1e308} if len(keys) == 1 else {keys[0]: {keys[1]: 1e308}}

    for path in sorted(HUGE_MEANS_NEVER - {"key_segments[0].max_regression"}):
        decision = decide(evidence(), make_config(**huge(path)))
        assert decision.decision in {"promoted", "rejected", "not_retrained", "blocked"}, path
        assert decision.reasons, path
    data = make_world(0, "order", rows=3_000)
    config = make_config(**data.config_overrides(), **huge("data_checks.range_margin"))
    assert not broken_feature_checks(data.reference, data.batch, data.features, config)
    config = make_config(**data.config_overrides(), **huge("data_checks.psi_threshold"))
    assert not any(r.drifted for r in drift_report(data.reference, data.batch, data.features, config))
    frame, predicted, overrides = regression_world(0, "order", rows=3_000)
    frame.loc[2_000:, "y"] = frame.loc[2_000:, "y"] / 2  # halved labels, a shift never called a fault
    assert judge(frame, predicted, {**overrides, "triage": {"max_label_shift": 1e308}}, 2_000) == []
    assert degradation_tolerance(make_config(**huge("triage.max_degradation")), 0.8) == 1e308
