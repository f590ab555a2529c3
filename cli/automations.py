"""`gatekeeper automations install`: the shipped automations (`automations/*.yaml`) on a Prefect
server, each sending a notification through one block.

An automation lives on the server, so this needs PREFECT_API_URL (a private API dies with the
command). The notification goes through a Prefect notification block the team already has
(`--block slack-webhook/team`) or one made here from a URL (`--webhook-url`: a custom webhook block
`gatekeeper-decisions` that POSTs `{"subject": ..., "body": ...}` as JSON). Installing twice
updates the automations of the same name instead of adding copies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import yaml

from gatekeeper.errors import ConfigError

PLACEHOLDER = "{{ notification_block_id }}"
WEBHOOK_BLOCK = "gatekeeper-decisions"
SHIPPED = Path(__file__).resolve().parents[1] / "automations"


def automation_files(directory: str | None) -> list[Path]:
    """The automations to install: `directory`'s YAML files, else ./automations, else the shipped ones."""
    folder = (
        Path(directory)
        if directory
        else next((p for p in (Path("automations"), SHIPPED) if p.is_dir()), SHIPPED)
    )
    files = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
    if not files:
        raise ConfigError(
            f"--dir must be a folder of automation YAML files; got {str(folder)!r} (no *.yaml there)"
        )
    return files


def notification_block_id(block: str | None, webhook_url: str | None) -> tuple[UUID, str]:
    """The id of the block the automations notify through, and how it was found."""
    if bool(block) == bool(webhook_url):
        raise ConfigError(
            "automations install needs one way to notify: --block TYPE/NAME (a notification block on the "
            "server, e.g. slack-webhook/team) or --webhook-url URL; got " + ("both" if block else "neither")
        )
    if block:
        from prefect.blocks.core import Block

        try:
            loaded = Block.load(block)
        except (ValueError, RuntimeError) as exc:
            raise ConfigError(
                f"--block must name a block on the server as TYPE/NAME; got {block!r}: {exc}"
            ) from None
        identifier = getattr(loaded, "_block_document_id", None)
        if identifier is None:
            raise ConfigError(f"--block {block!r} has no id on the server")
        return UUID(str(identifier)), block
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    assert webhook_url is not None
    if not webhook_url.startswith(("http://", "https://")):
        raise ConfigError(f"--webhook-url must be an http(s) URL; got {webhook_url!r}")
    made = CustomWebhookNotificationBlock(
        name="gatekeeper", url=webhook_url, json_data={"subject": "{{subject}}", "body": "{{body}}"}
    )
    identifier = made.save(WEBHOOK_BLOCK, overwrite=True)
    return UUID(str(identifier)), f"custom-webhook/{WEBHOOK_BLOCK}"


def load_automation(path: Path, block_id: UUID) -> Any:
    """One automation file, its notification block filled in, validated as Prefect's schema."""
    from prefect.events.schemas.automations import AutomationCore
    from pydantic import ValidationError

    text = path.read_text().replace(PLACEHOLDER, str(block_id))
    try:
        return AutomationCore.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"{path} is not a Prefect automation: {exc}") from None


def install(directory: str | None, block: str | None, webhook_url: str | None) -> list[str]:
    """Create or update every automation; one line per automation saying what was done."""
    from prefect.client.orchestration import get_client
    from prefect.settings import get_current_settings

    api = get_current_settings().api.url
    if not api:
        raise ConfigError(
            "automations live on a Prefect server, but PREFECT_API_URL is not set (got none): start "
            "`prefect server start` and set PREFECT_API_URL, e.g. http://127.0.0.1:4200/api"
        )
    files = automation_files(directory)
    block_id, how = notification_block_id(block, webhook_url)
    done = []
    with get_client(sync_client=True) as client:
        for path in files:
            automation = load_automation(path, block_id)
            existing = client.read_automations_by_name(automation.name)
            if existing:
                client.update_automation(existing[0].id, automation)
                verb = "updated"
            else:
                client.create_automation(automation)
                verb = "created"
            done.append(f"{automation.name}: {verb} on {api} (from {path.name}; notifies through {how})")
    return done
