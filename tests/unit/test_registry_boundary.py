"""MLflow's failures become the gate's errors at one boundary, decided by type and HTTP status."""

from __future__ import annotations

import json
import pickle
import sys

import pytest
import requests
from mlflow.exceptions import MlflowException, RestException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST

from gatekeeper.errors import (
    RegistryConflict,
    RegistryError,
    RegistryNotFound,
    RegistryPermissionError,
    RegistryUnavailable,
)
from gatekeeper.registry.client import is_transient, registry_errors

URI = "http://mlflow.example:5000"


def _unreachable() -> MlflowException:
    """What MLflow raises when the server cannot be reached: its own error, chained from requests'."""
    try:
        try:
            raise requests.exceptions.ConnectionError("Max retries exceeded")
        except requests.exceptions.ConnectionError as exc:
            raise MlflowException(f"API request to {URI} failed with exception {exc}") from None
    except MlflowException as wrapped:
        wrapped.__context__ = requests.exceptions.ConnectionError("Max retries exceeded")
        return wrapped


@pytest.mark.parametrize(
    ("error", "expected", "transient"),
    [
        (_unreachable(), RegistryUnavailable, True),
        (
            RestException({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"}),
            RegistryUnavailable,
            True,
        ),
        (MlflowException("no such model", error_code=RESOURCE_DOES_NOT_EXIST), RegistryNotFound, False),
        (RestException({"error_code": "PERMISSION_DENIED", "message": "no"}), RegistryPermissionError, False),
        (MlflowException("exists", error_code=RESOURCE_ALREADY_EXISTS), RegistryConflict, False),
        (MlflowException("database is locked", error_code=INTERNAL_ERROR), RegistryError, False),
    ],
    ids=["unreachable", "503", "404", "403", "exists", "internal"],
)
def test_mlflow_errors_map_to_the_gates_hierarchy(
    error: Exception, expected: type[RegistryError], transient: bool
) -> None:
    with pytest.raises(expected, match=rf"MLflow at {URI} failed to load the champion") as info:
        with registry_errors(URI, "load the champion"):
            raise error
    assert type(info.value) is expected
    assert is_transient(info.value) is transient
    assert info.value.__cause__ is error


def test_a_programming_error_is_not_disguised_as_registry_trouble() -> None:
    with pytest.raises(KeyError), registry_errors(URI, "apply the decision"):
        {}["missing"]


def test_models_pickled_under_the_old_module_names_still_load() -> None:
    from gatekeeper.registry.flavors import LEGACY_MODULES, _alias_legacy_modules
    from gatekeeper.train.pipeline import as_object_text

    # a pickle that names the function by its module before the reshape
    data = pickle.dumps(as_object_text, protocol=0).replace(
        b"gatekeeper.train.pipeline", b"gatekeeper.training"
    )
    for old in LEGACY_MODULES:
        sys.modules.pop(old, None)
    with pytest.raises(ModuleNotFoundError):
        pickle.loads(data)
    _alias_legacy_modules()
    assert pickle.loads(data) is as_object_text


def test_a_password_in_the_tracking_uri_is_kept_out_of_errors_params_and_gate_yaml() -> None:
    """Credentials belong in the environment: a password written in `tracking_uri` shows as *** in
    registry errors, the run's params and its gate.yaml (issue 14's audit found it in all three)."""
    from mlflow.exceptions import MlflowException

    from gatekeeper.registry.runs import _flat_params, config_text
    from tests.builders import make_config

    uri = "https://ana:s3cr3t@mlflow.example.com"
    with pytest.raises(RegistryError) as info, registry_errors(uri, "open a run"):
        raise MlflowException(f"API request to {uri}/api/2.0/runs failed")
    assert "s3cr3t" not in str(info.value)
    assert "https://ana:***@mlflow.example.com" in str(info.value)
    config = make_config(tracking_uri=uri)
    assert "s3cr3t" not in json.dumps(_flat_params(config))
    assert _flat_params(config)["tracking_uri"] == "https://ana:***@mlflow.example.com"
    assert "s3cr3t" not in config_text(config)


def test_a_password_in_a_library_message_or_traceback_is_masked_in_every_log_record(caplog) -> None:
    """Found when the suite first ran in parallel: run without the CLI (as a Prefect worker runs the
    flow), Prefect logged a failed task's traceback with MLflow's chained error quoting the tracking
    URI whole; the test had passed only after a CLI test had dropped tracebacks in the same process."""
    import logging

    from gatekeeper.errors import redact_log_records

    redact_log_records()
    redact_log_records()  # idempotent: one factory, not a chain of them
    logger = logging.getLogger("a-library")
    try:
        try:
            raise ConnectionError("API request to http://ana:pw-123@127.0.0.1:9/api failed")
        except ConnectionError as exc:
            raise RuntimeError("the gate failed") from exc
    except RuntimeError:
        logger.exception("request to %s failed", "http://ana:pw-123@127.0.0.1:9")
    assert "pw-123" not in caplog.text
    assert "http://ana:***@127.0.0.1:9" in caplog.text
    assert "API request to http://ana:***@127.0.0.1:9/api failed" in caplog.text  # the traceback, masked


def test_quieting_prefect_s_tracebacks_leaves_every_other_handler_the_whole_record(caplog) -> None:
    """The CLI drops tracebacks from Prefect's console lines; a handler Prefect shares with the root
    logger used to clear the record itself, so the next handler (here pytest's) lost the traceback:
    the masking test above failed whenever a gate run had happened earlier in its process."""
    import io
    import logging

    from cli import quiet_prefect_tracebacks

    class ConsoleHandler(logging.StreamHandler):  # stands in for Prefect's (no Prefect import here)
        pass

    ConsoleHandler.__module__ = "prefect.logging.handlers"
    printed = io.StringIO()
    shared = ConsoleHandler(printed)
    prefect_logger = logging.getLogger("prefect.test-shared")
    prefect_logger.addHandler(shared)
    logging.getLogger().handlers.insert(0, shared)  # before pytest's, as Prefect's were set up first
    try:
        quiet_prefect_tracebacks()
        quiet_prefect_tracebacks()
        try:
            raise ValueError("the cause")
        except ValueError:
            logging.getLogger("another-library").exception("it failed")
        assert "ValueError: the cause" in caplog.text  # pytest's handler got the whole record
        assert "it failed" in printed.getvalue()
        assert "Traceback" not in printed.getvalue()  # the console line, without its traceback
    finally:
        prefect_logger.removeHandler(shared)
        logging.getLogger().removeHandler(shared)


def test_links_and_printed_commands_never_carry_a_tracking_password(capsys) -> None:
    """The MLflow links the report, the image artifact and the terminal show are built without the
    URI's credentials; a database store with a password is left to $MLFLOW_TRACKING_URI."""
    from cli.printing import print_where_to_look
    from gatekeeper.decide import decide
    from gatekeeper.registry.runs import web_links
    from gatekeeper.report.markdown import render_markdown
    from tests.builders import evidence, make_config

    decision = decide(evidence(), make_config())
    links = web_links("https://gate:s3cret@mlflow.internal:5000/", "7", "abc", "fraud-detector", "2")
    assert links["MLflow run"] == "https://mlflow.internal:5000/#/experiments/7/runs/abc"
    assert "s3cret" not in render_markdown(decision, links, image=links["segment forest plot"])
    for uri in ("https://gate:s3cret@mlflow.internal:5000", "postgresql://gate:s3cret@db/mlflow"):
        print_where_to_look(decision, uri)
    shown = capsys.readouterr().out
    assert "s3cret" not in shown
    assert '--backend-store-uri "$MLFLOW_TRACKING_URI"' in shown


def test_a_dataset_another_gate_logged_in_between_is_linked_not_an_error(tmp_path, monkeypatch) -> None:
    """Two gate processes logging one shared table race on MLflow's datasets table (seen on a fleet's
    Dask workers: 'UNIQUE constraint failed: datasets...'); the run is opened all the same, the dataset
    linked, and any other MLflow error still stops it."""
    import pandas as pd

    import gatekeeper.registry.runs as runs
    from tests.builders import make_config

    config = make_config(target="y", workdir=str(tmp_path), tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    tables = {"new_labels": (frame, str(tmp_path / "batch.parquet"))}
    connect = runs.connect
    failures = iter(
        [
            MlflowException(
                "(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.experiment_id, datasets.name, "
                "datasets.digest [SQL: INSERT INTO datasets ...]"
            ),
            None,  # the retry: logged
            MlflowException("(sqlite3.OperationalError) database is locked"),  # the next run's
        ]
    )

    def racing(uri: str):
        client = connect(uri)
        real = client.log_inputs

        def log_inputs(run_id, datasets):
            failure = next(failures, None)
            if failure is not None and "UNIQUE" in str(failure):  # a neighbour's run inserts it first
                neighbour = client.create_run(client.get_run(run_id).info.experiment_id)
                real(neighbour.info.run_id, datasets=datasets)
                raise failure
            if failure is not None:
                raise failure
            return real(run_id, datasets=datasets)

        client.log_inputs = log_inputs
        return client

    monkeypatch.setattr(runs, "connect", racing)
    run_id = runs.open_run(config, {"new_labels": "ab" * 32}, {"new_labels": 3}, None, tables)
    linked = connect(config.resolved_tracking_uri).get_run(run_id).inputs.dataset_inputs
    assert [d.dataset.name for d in linked] == ["new_labels"]
    with pytest.raises(RegistryError, match="database is locked"):
        runs.open_run(config, {"new_labels": "ab" * 32}, {"new_labels": 3}, None, tables)
