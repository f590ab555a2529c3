"""MLflow model URIs a candidate may be given as, parsed without MLflow (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, PlainSerializer

from gatekeeper.errors import ConfigError, redact

FORMS = "models:/<name>/<version>, models:/<name>@<alias> or runs:/<run_id>/<path>"
_VERSION = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")
_ALIAS = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[A-Za-z0-9_\-]+)$")
_RUN = re.compile(r"^runs:/(?P<run_id>[0-9a-fA-F]{8,64})/(?P<path>[^?#]+?)/?$")


@dataclass(frozen=True)
class ModelUri:
    """A model named by version, by alias, or by the run that logged it."""

    uri: str
    kind: Literal["version", "alias", "run"]
    name: str | None = None
    version: str | None = None
    alias: str | None = None
    run_id: str | None = None
    path: str | None = None


def parse_model_uri(uri: str, field: str = "candidate") -> ModelUri:
    """`uri` as a ModelUri, or a ConfigError naming `field`, the value and the accepted forms."""
    text = str(uri).strip()
    if m := _VERSION.match(text):
        return ModelUri(text, "version", name=m["name"], version=m["version"])
    if m := _ALIAS.match(text):
        return ModelUri(text, "alias", name=m["name"], alias=m["alias"])
    if m := _RUN.match(text):
        return ModelUri(text, "run", run_id=m["run_id"], path=m["path"])
    hint = ""
    if text.startswith("models:/m-"):
        hint = " (a logged model id is not a registered version: register it, or give runs:/<run_id>/<path>)"
    elif text.startswith("models:/") and text.rstrip("/").count("/") == 1 and "@" not in text:
        hint = " (a model name alone is ambiguous: add /<version> or @<alias>)"
    raise ConfigError(f"`{field}` must be an MLflow model URI of the form {FORMS}{hint}; got {text!r}")


STORE = re.compile(
    r"^(sqlite:///.+|https?://[^\s/]+.*|(postgresql|mysql|mssql)(\+\w+)?://\S+|databricks(-uc)?(://\S*)?|uc(://\S*)?)$"
)


def _names_a_store(value: str) -> str:
    if STORE.match(value):
        return value
    raise ValueError(
        "must be an MLflow tracking URI with a database or a server: sqlite:///path/mlflow.db, "
        "http(s)://host:port, postgresql://..., mysql://..., mssql://... or databricks "
        "(MLflow's file store is in maintenance mode); pass credentials through the environment"
    )


# a tracking URI as the config holds it: a database or server store; serialised to JSON (Prefect's
# stored flow parameters, a written config) with any password as ***
TrackingUri = Annotated[
    str, AfterValidator(_names_a_store), PlainSerializer(redact, return_type=str, when_used="json")
]
