"""`gatekeeper webhook serve|register`: MLflow registry webhooks that start gate runs."""

from __future__ import annotations

import argparse
import logging
import os
import re
from typing import Any

from cli.printing import console
from gatekeeper.errors import ConfigError, RegistryError

MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


def _secret(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ConfigError(
            f"--secret-env names the environment variable holding the webhook's HMAC secret; {name!r} is "
            f"{'empty' if name in os.environ else 'not set'} (expected a long random string, the same one "
            "given to `gatekeeper webhook register`)"
        )
    return value


def _models(values: list[str] | None) -> frozenset[str]:
    for value in values or []:
        if not MODEL_NAME.fullmatch(value):
            raise ConfigError(
                f"--model must be a registered model name (letters, digits, . _ -); got {value!r}"
            )
    return frozenset(values or [])


def cmd_webhook_serve(args: argparse.Namespace) -> int:
    """Serve the receiver until interrupted."""
    secret = _secret(args.secret_env)
    models = _models(args.model)
    from prefect.settings import get_current_settings

    if not get_current_settings().api.url:
        raise ConfigError(
            "the receiver emits events for a Prefect server's deployments, but PREFECT_API_URL is not set "
            "(got none): start `prefect server start` and set PREFECT_API_URL, e.g. http://127.0.0.1:4200/api"
        )
    import uvicorn

    from flows.model_versions import PATH, receiver_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.max_body_bytes < 1024:
        raise ConfigError(f"--max-body-bytes must be at least 1024; got {args.max_body_bytes}")
    app = receiver_app(secret, models, args.state_dir, max_body=args.max_body_bytes)
    gated = ", ".join(sorted(models)) or "every model"
    console().print(
        f"receiving MLflow webhooks on http://{args.host}:{args.port}{PATH} for {gated}; "
        f"delivery log in {os.path.abspath(args.state_dir)}"
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", workers=1)
    return 0


def cmd_webhook_register(args: argparse.Namespace) -> int:
    """Create the MLflow webhook that sends `model_version.created` to the receiver."""
    secret = _secret(args.secret_env)
    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri or not uri.startswith(("http://", "https://")):
        raise ConfigError(
            "webhooks live on an MLflow tracking server: give --tracking-uri (or MLFLOW_TRACKING_URI) as "
            f"http(s)://host:port; got {uri!r}"
        )
    from gatekeeper.registry.client import connect, registry_errors

    client = connect(uri)
    name = f"gatekeeper-{args.name}"
    with registry_errors(uri, "create the webhook"):
        try:
            hook = client.create_webhook(
                name=name,
                url=args.url,
                events=["model_version.created"],
                description="Starts the retraining gate for each new model version (gatekeeper webhook).",
                secret=secret,
            )
        except AttributeError:
            raise RegistryError("this MLflow client has no webhooks (MLflow 3.3 or later needed)") from None
    console().print(
        f"MLflow webhook {hook.webhook_id} ({name}) sends model_version.created to {args.url}; "
        "the MLflow server needs MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY set (and, for an http or loopback "
        "receiver, MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https and MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true)"
    )
    return 0


def add_webhook_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """`webhook serve` and `webhook register`, under the CLI's sub-commands `sub`."""
    webhook = sub.add_parser(
        "webhook",
        help="run the gate when a new model version is registered",
        description="Run the gate when a new model version is registered: `serve` receives MLflow's "
        "webhook deliveries, `register` points MLflow at the receiver.",
        parents=[common],
    )
    verbs = webhook.add_subparsers(dest="webhook_command", required=True)
    from cli import EXAMPLES

    def described(help: str, name: str) -> dict[str, Any]:
        return {
            "help": help,
            "description": help[0].upper() + help[1:] + ".",
            "epilog": f"example:\n  {EXAMPLES[name]}",
            "formatter_class": argparse.RawDescriptionHelpFormatter,
            "parents": [common],
        }

    serve = verbs.add_parser(
        "serve", **described("receive MLflow's webhook deliveries, emit Prefect events", "webhook serve")
    )
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (put TLS in front for others)")
    serve.add_argument("--secret-env", required=True, help="environment variable holding the HMAC secret")
    serve.add_argument("--model", action="append", help="a gated model (repeatable; default: every model)")
    serve.add_argument("--state-dir", default=".gatekeeper/webhook", help="where delivery ids are kept")
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        default=4 * 1024 * 1024,
        help="a larger body is refused (413) unread; default 4 MiB (MLflow sends a few kB)",
    )
    serve.set_defaults(func=cmd_webhook_serve)
    register = verbs.add_parser(
        "register", **described("create the MLflow webhook pointing at the receiver", "webhook register")
    )
    register.add_argument(
        "--url", required=True, help="the receiver, e.g. http://gate-host:8787/mlflow-webhook"
    )
    register.add_argument("--secret-env", required=True, help="environment variable holding the HMAC secret")
    register.add_argument("--name", default="model-versions", help="the webhook's name suffix")
    register.add_argument("--tracking-uri", help="the MLflow server (default: $MLFLOW_TRACKING_URI)")
    register.set_defaults(func=cmd_webhook_register)
