"""A gate config file's faults as one readable ConfigError: a file that is not YAML text, YAML that is
not a mapping, and pydantic's validation errors (with did-you-mean)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from gatekeeper.errors import ConfigError, did_you_mean, redact

if TYPE_CHECKING:
    import yaml


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("str", "list[str]", "function-after[_at_least_one()]"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _fields_at(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Valid keys of the model that holds the key at `loc` (for 'did you mean')."""
    model: Any = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        ann = field.annotation
        for candidate in (ann, *getattr(ann, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
                break
        else:
            return []
    return list(getattr(model, "model_fields", {}))


def config_error_from(exc: ValidationError, source: str, model: type[BaseModel]) -> ConfigError:
    """Turn pydantic's errors on validating `model` into one readable ConfigError."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = _format_loc(loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            hint = did_you_mean(str(loc[-1]), _fields_at(model, loc))
            lines.append(f"`{where}` is not a known key{hint}")
        elif err["type"] == "invalid_key":  # YAML reads unquoted 1, true, null as number, bool, null
            holder = f"`{_format_loc(loc[:-1])}`" if loc[:-1] else "the top level"
            lines.append(f"{holder} has a key that is not text: {err.get('input')!r} (quote it in the YAML)")
        elif err["type"] == "missing":
            lines.append(f"`{where}` is required")
        elif not loc:
            lines.append(err["msg"].removeprefix("Value error, "))
        else:
            seen = err.get("input")
            seen_txt = f"; got {redact(repr(seen))}" if not isinstance(seen, dict) else ""
            lines.append(f"`{where}`: {err['msg'].removeprefix('Value error, ')}{seen_txt}")
    return ConfigError(f"invalid gate configuration in {source}: " + "; ".join(lines))


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML parser's error on one line: where (line, column) and what, without its source excerpt."""
    mark = getattr(exc, "problem_mark", None)
    parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
    what = " ".join(str(p) for p in parts if p) or str(exc)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return where + " ".join(what.split())


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """The mapping a YAML config file holds (an empty file: {}), or a one-line ConfigError naming the file."""
    import yaml  # only when a file is read: compare-scores never loads it

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:  # a folder, no permission, binary bytes
        raise ConfigError(f"config file {str(path)!r} cannot be read as text: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {yaml_problem(exc)}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"config file {str(path)!r} must hold a mapping of keys (model_name: ..., data: ...) at its top "
            f"level; got a YAML {type(raw).__name__}"
        )
    return raw
