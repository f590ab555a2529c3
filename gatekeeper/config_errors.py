"""pydantic's validation errors of a gate config as one readable ConfigError (with did-you-mean)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from gatekeeper.errors import ConfigError, did_you_mean, redact


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


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """Valid keys of the model that holds the key at `loc` (for 'did you mean')."""
    from gatekeeper.config import GateConfig

    model: Any = GateConfig
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


def config_error_from(exc: ValidationError, source: str) -> ConfigError:
    """Turn pydantic's errors into one readable ConfigError."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = _format_loc(loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            hint = did_you_mean(str(loc[-1]), _fields_at(loc))
            lines.append(f"`{where}` is not a known key{hint}")
        elif err["type"] == "missing":
            lines.append(f"`{where}` is required")
        elif not loc:
            lines.append(err["msg"].removeprefix("Value error, "))
        else:
            seen = err.get("input")
            seen_txt = f"; got {redact(repr(seen))}" if not isinstance(seen, dict) else ""
            lines.append(f"`{where}`: {err['msg'].removeprefix('Value error, ')}{seen_txt}")
    return ConfigError(f"invalid gate configuration in {source}: " + "; ".join(lines))
