"""A fleet: many models gated in one run, from one file (`fleet:` and the `gate:` keys they share).

    fleet:
      name: churn-by-region
      per_value: {column: region, model_name: "churn-{value}"}   # one model per value, or:
      models: [north.yaml, {model_name: churn-south, data: {...}}]
      false_discovery_rate: 0.05
      compute: {engine: threads, max_parallel: 2}                 # or dask (a LocalCluster, an address)
    gate: {target: churned, data: {...}, expectations: {...}}     # every model's keys, its own win

Each model is an ordinary GateConfig (validated as one, errors naming `models[i]`); a `per_value`
model is the `gate:` keys with `data.where: {column: value}`, so `gatekeeper run` on that config alone
gates the same rows the same way.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from gatekeeper.config import GateConfig, parse_config, resolve_paths
from gatekeeper.config_errors import config_error_from, read_yaml_mapping
from gatekeeper.config_sections import Scalar, _Strict
from gatekeeper.errors import ConfigError

MAX_MODELS = 10_000


class FleetCompute(_Strict):
    """Where the fleet's models are gated: threads of this process, worker processes on this machine,
    or a Dask cluster's workers."""

    engine: Literal["threads", "processes", "dask"] = "threads"
    """threads: Prefect's thread pool here; processes: Prefect's process pool here (each model a task in
    one of `max_parallel` worker processes: models do not share one interpreter's lock, each worker
    imports the gate once and keeps the run's tables); dask: prefect-dask's DaskTaskRunner (each
    model a task on a worker)."""
    max_parallel: int = Field(default=2, ge=1, le=256)
    """threads, processes: models gated at once."""
    address: str | None = Field(default=None, pattern=r"^(tcp|tls|inproc|ucx|ws|wss)://\S+$")
    """dask: a running scheduler; null: a LocalCluster started for the run."""
    n_workers: int = Field(default=2, ge=1, le=512)
    """dask: LocalCluster worker processes."""
    threads_per_worker: int = Field(default=1, ge=1, le=64)
    """dask: models a LocalCluster worker gates at once."""
    memory_limit: str = Field(default="4GiB", pattern=r"^\d+(\.\d+)?\s*([KMGT]i?B|[kmgt]i?b|B)?$")
    """dask: per LocalCluster worker."""


class PerValue(_Strict):
    """One model per value of a column: the `gate:` keys, with `data.where: {column: value}`."""

    column: str = Field(min_length=1)
    """The column whose values name the models (in train, new labels and evaluation rows)."""
    model_name: str = Field(pattern=r"\{value\}")
    """The registered model of each value, e.g. `churn-{value}`."""
    values: list[Scalar] | None = None
    """The values gated; default: every value with rows in both the training data and the new labels
    (the others are listed as not gated, with why)."""


class FleetSpec(_Strict):
    """The fleet: which models, how false promotions are controlled across them, where they run."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    """The fleet's name (its run's name and report)."""
    models: list[str | dict[str, Any]] = Field(default_factory=list, max_length=MAX_MODELS)
    """Each a gate.yaml path (relative to this file) or a mapping of gate keys, over the `gate:` keys."""
    per_value: PerValue | None = None
    """One model per value of a column (instead of `models`)."""
    false_discovery_rate: float = Field(default=0.05, gt=0.0, le=1.0)
    """The expected share of wrong promotions across the fleet (Benjamini-Hochberg over every model's
    test of a gain): a promotion whose evidence does not survive it is rejected with why."""
    compute: FleetCompute = Field(default_factory=FleetCompute)
    """Where the models are gated."""

    @model_validator(mode="after")
    def _models_or_per_value(self) -> FleetSpec:
        if bool(self.models) == (self.per_value is not None):
            raise ValueError("give `models` (a list) or `per_value` (a column), one of the two")
        return self


class FleetFile(_Strict):
    """A fleet file: `fleet:` and the `gate:` keys every model shares."""

    fleet: FleetSpec
    """The models and how they are gated together."""
    gate: dict[str, Any] = Field(default_factory=dict)
    """Keys of gate.yaml every model shares; a model's own keys win (mappings merged key by key)."""

    @field_validator("gate")
    @classmethod
    def _no_model_specifics(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "candidate" in value:
            raise ValueError("`candidate` names one model's version: give it in that model's entry")
        return value


def is_fleet_file(path: str | Path) -> bool:
    """A YAML file whose top level has `fleet:`."""
    return "fleet" in read_yaml_mapping(Path(path))


def load_fleet(path: str | Path) -> tuple[FleetFile, Path]:
    """The fleet file, validated, and the folder its relative paths start from."""
    path = Path(path)
    raw = read_yaml_mapping(path)
    try:
        return FleetFile.model_validate(raw), path.resolve().parent
    except ValidationError as exc:
        raise config_error_from(exc, str(path), FleetFile) from None


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on `base`: mappings merged key by key, anything else replaced."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


_PATH_KEYS = {"data": ("train", "new_labels", "evaluation"), "expectations": ("directory",)}


def _absolute(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative paths of a gate mapping made absolute against `base` (before mappings are merged, so each
    path means what it meant in its own file)."""
    out = copy.deepcopy(raw)

    def fix(value: Any) -> Any:
        if not isinstance(value, str) or "://" in value or Path(value).is_absolute():
            return value
        return str((base / value).resolve())

    for section, keys in _PATH_KEYS.items():
        if isinstance(out.get(section), dict):
            for key in keys:
                if key in out[section]:
                    out[section][key] = fix(out[section][key])
            if section == "data" and isinstance(out[section].get("allowed_roots"), list):
                out[section]["allowed_roots"] = [fix(r) for r in out[section]["allowed_roots"]]
    for key in ("workdir", "quarantine_dir"):
        if key in out:
            out[key] = fix(out[key])
    uri = out.get("tracking_uri")
    if isinstance(uri, str) and uri.startswith("sqlite:///") and not Path(uri[10:]).is_absolute():
        out["tracking_uri"] = "sqlite:///" + str((base / uri[10:]).resolve())
    return out


def _model(raw: dict[str, Any], source: str, base: Path, overrides: dict[str, Any]) -> GateConfig:
    raw = {**raw, **{k: v for k, v in overrides.items() if v is not None}}
    config = resolve_paths(parse_config(raw, source=source), base)
    if config.compute.engine != "local":
        raise ConfigError(
            f"{source}: `compute.engine` is {config.compute.engine!r}; a fleet's models are gated where "
            "`fleet.compute` says (threads or a Dask cluster), each in one process: remove it"
        )
    return config


def listed_configs(fleet: FleetFile, base: Path, **overrides: Any) -> list[GateConfig]:
    """Every model of `fleet.models`, as the GateConfig it is gated with."""
    shared = _absolute(fleet.gate, base)
    configs = []
    for i, entry in enumerate(fleet.fleet.models):
        where = f"fleet.models[{i}]"
        if isinstance(entry, str):
            path = Path(entry) if Path(entry).is_absolute() else base / entry
            own = _absolute(read_yaml_mapping(path), path.resolve().parent)
            source = f"{where} ({path})"
        else:
            own, source = _absolute(entry, base), where
        configs.append(_model(merged(shared, own), source, base, overrides))
    return _unique(configs)


def per_value_configs(fleet: FleetFile, base: Path, values: list[Any], **overrides: Any) -> list[GateConfig]:
    """One GateConfig per value of `per_value.column`: the `gate:` keys, `data.where` the value."""
    spec = fleet.fleet.per_value
    assert spec is not None
    shared = _absolute(fleet.gate, base)
    configs = []
    for value in values:
        name = spec.model_name.replace("{value}", _name_part(value))
        own = {"model_name": name, "data": {"where": {spec.column: value}}}
        source = f"fleet.per_value ({spec.column}={value})"
        configs.append(_model(merged(shared, own), source, base, overrides))
    return _unique(configs)


def _name_part(value: Any) -> str:
    """A value as part of a registered model's name: ASCII letters, digits, `_.-`; anything else `-`."""
    text = str(value)
    return "".join(c if (c.isascii() and c.isalnum()) or c in "_.-" else "-" for c in text) or "empty"


def _unique(configs: list[GateConfig]) -> list[GateConfig]:
    seen: dict[str, int] = {}
    for i, config in enumerate(configs):
        if config.model_name in seen:
            raise ConfigError(
                f"model_name {config.model_name!r} is gated twice in the fleet (models "
                f"{seen[config.model_name]} and {i}): each model needs a name of its own"
            )
        seen[config.model_name] = i
    return configs


def values_to_gate(
    spec: PerValue, train_values: list[Any], batch_values: list[Any]
) -> tuple[list[Any], dict[str, str]]:
    """The values gated (the configured ones, else those with training rows and new labels) and the
    values not gated, each with why."""
    in_train, in_batch = set(map(str, train_values)), set(map(str, batch_values))
    if spec.values is not None:
        return list(spec.values), {}
    skipped: dict[str, str] = {}
    for value in sorted(in_batch - in_train):
        skipped[value] = "new labels but no training rows: no champion to judge against (train one first)"
    for value in sorted(in_train - in_batch):
        skipped[value] = "no new labels in this batch: nothing to gate"
    gated = [v for v in _distinct([_plain(v) for v in train_values]) if str(v) in in_batch]
    return gated, skipped


def _distinct(values: list[Any]) -> list[Any]:
    seen: set[str] = set()
    out = []
    for value in sorted(values, key=str):
        if str(value) not in seen:
            seen.add(str(value))
            out.append(value)
    return out


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value YAML would give (a config holds those)."""
    return value.item() if hasattr(value, "item") else value
