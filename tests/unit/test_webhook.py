"""The MLflow webhook receiver: signatures as MLflow makes them, payloads, skip rules, one run per
delivery. The end to end path (a real mlflow server and prefect server) is in test_deployments.py."""

from __future__ import annotations

import json
import multiprocessing
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from mlflow.webhooks.delivery import _generate_hmac_signature as mlflow_signature

from flows.model_versions import receiver_app
from gatekeeper.registry.webhook import (
    Delivery,
    DeliveryLog,
    WebhookPayloadError,
    WebhookRejected,
    check_headers,
    parse,
    sign,
    skip_reason,
    verify,
)

SECRET = "s3cret-for-tests"


def payload(name: str = "churn", version: str = "7", tags: dict[str, str] | None = None, **top: Any) -> str:
    data = {"name": name, "version": version, "source": "models:/m-1", "run_id": "abc", "tags": tags or {}}
    return json.dumps({"entity": "model_version", "action": "created", "timestamp": "t", "data": data, **top})


def headers(
    body: str, secret: str = SECRET, delivery: str | None = None, at: float | None = None
) -> dict[str, str]:
    delivery = delivery or str(uuid.uuid4())
    stamp = str(int(time.time() if at is None else at))
    return {
        "X-MLflow-Delivery-Id": delivery,
        "X-MLflow-Timestamp": stamp,
        "X-MLflow-Signature": mlflow_signature(secret, delivery, stamp, body),
        "Content-Type": "application/json",
    }


def test_our_signature_is_mlflows() -> None:
    assert sign(SECRET, "d", "1700000000", '{"a": 1}') == mlflow_signature(
        SECRET, "d", "1700000000", '{"a": 1}'
    )


def test_a_delivery_signed_by_mlflow_verifies_and_parses() -> None:
    body = payload(tags={"team": "risk"})
    sent = headers(body, delivery="d-1")
    assert verify(SECRET, sent, body.encode()) == "d-1"
    delivery = parse("d-1", body.encode())
    assert (delivery.event, delivery.name, delivery.version) == ("model_version.created", "churn", "7")
    assert delivery.candidate == "models:/churn/7"
    assert delivery.tags == {"team": "risk"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"secret": "another"}, "wrong signature"),
        ({"body": payload(version="8")}, "wrong signature"),  # tampered after signing
        ({"drop": "X-MLflow-Signature"}, "unsigned request"),
        ({"drop": "X-MLflow-Delivery-Id"}, "unsigned request"),
        # offsets from the time of the call, not of collection: a suite that runs over an hour
        # made a delivery "signed an hour ahead" at collection fresh by the time it ran
        ({"skew": -3600}, "stale delivery"),
        ({"skew": 3600}, "stale delivery"),
    ],
)
def test_anything_else_is_rejected_saying_why(change: dict[str, Any], expected: str) -> None:
    body = payload()
    at = time.time() + change["skew"] if "skew" in change else None
    sent = headers(body, secret=change.get("secret", SECRET), at=at)
    sent.pop(change.get("drop", ""), None)
    with pytest.raises(WebhookRejected, match=expected):
        verify(SECRET, sent, change.get("body", body).encode())
    with pytest.raises(WebhookRejected, match="no secret"):
        verify("", headers(body), body.encode())


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("not json", "must be JSON"),
        ("[1, 2]", "must be a JSON object; got list"),
        (json.dumps({"entity": 3, "action": "created"}), "`entity` must be a string; got 3"),
        (json.dumps({"entity": "model_version", "action": "created"}), "`data` must be an object"),
        (payload(name=""), "`data.name` must be a registered model name; got ''"),
        (payload(version="latest"), "`data.version` must be a version number; got 'latest'"),
    ],
)
def test_malformed_payloads_name_the_field_and_the_value(body: str, expected: str) -> None:
    with pytest.raises(WebhookPayloadError, match=expected):
        parse("d", body.encode())


def test_only_new_versions_of_gated_models_not_registered_by_the_gate_run_it() -> None:
    gated = frozenset({"churn"})
    new = Delivery("d", "model_version", "created", name="churn", version="3")
    assert skip_reason(new, gated) is None
    assert skip_reason(new, frozenset()) is None  # no list: every model
    assert "not gated by this receiver" in str(
        skip_reason(Delivery("d", "model_version", "created", "fraud", "1"), gated)
    )
    assert "only model_version.created" in str(
        skip_reason(Delivery("d", "model_version_alias", "created"), gated)
    )
    own = Delivery("d", "model_version", "created", "churn", "4", tags={"gate.mlflow_run_id": "r"})
    assert "registered by the gate itself" in str(skip_reason(own, gated))
    adopted = Delivery(
        "d", "model_version", "created", "churn", "5", tags={"gate.registered_from": "runs:/x/m"}
    )
    assert "registered by the gate itself" in str(skip_reason(adopted, gated))


def _race(folder: str, delivery: str, out: Any) -> None:
    log = DeliveryLog(folder)
    with log.lock():
        first = not log.seen(delivery)
        if first:
            time.sleep(0.05)  # widen the window a second process would need to also see it as new
            log.record(delivery)
    out.put(first)


@pytest.mark.slow  # processes started and raced
def test_processes_racing_on_one_delivery_act_once(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    racers = [ctx.Process(target=_race, args=(str(tmp_path), "same-id", out)) for _ in range(4)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(60)
    assert sorted(out.get(timeout=5) for _ in racers) == [False, False, False, True]
    log = DeliveryLog(tmp_path, keep=3)
    with log.lock():
        for i in range(5):
            log.record(f"id-{i}")
        assert not log.seen("id-1")
        assert log.seen("id-4")
        assert json.loads(log.path.read_text()) == ["id-2", "id-3", "id-4"]


def test_the_receiver_answers_401_400_200_202_and_emits_once_per_delivery(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    emitted: list[Delivery] = []
    failing = {"now": False}

    async def emit(delivery: Delivery) -> str:
        if failing["now"]:
            raise ConnectionError("prefect server unreachable")
        emitted.append(delivery)
        return f"event-{len(emitted)}"

    app = receiver_app(SECRET, frozenset({"churn"}), tmp_path, emit)
    with TestClient(app) as client:
        assert client.get("/health").json() == {"status": "ok", "models": ["churn"]}
        body = payload()
        sent = headers(body)
        assert (
            client.post(
                "/mlflow-webhook", content=body, headers={**sent, "X-MLflow-Signature": "v1,x"}
            ).status_code
            == 401
        )
        assert client.post("/mlflow-webhook", content="{", headers=headers("{")).status_code == 400
        other = payload(name="fraud")
        assert (
            client.post("/mlflow-webhook", content=other, headers=headers(other)).json()["status"]
            == "skipped"
        )
        assert emitted == []
        first = client.post("/mlflow-webhook", content=body, headers=sent)
        assert first.status_code == 202
        assert first.json()["candidate"] == "models:/churn/7"
        again = [client.post("/mlflow-webhook", content=body, headers=sent) for _ in range(3)]
        assert [r.json()["status"] for r in again] == ["duplicate"] * 3
        assert [d.candidate for d in emitted] == ["models:/churn/7"]
        # Prefect down: 503 and nothing recorded, so MLflow's retry of the same delivery succeeds later
        later = payload(version="8")
        retry = headers(later)
        failing["now"] = True
        assert client.post("/mlflow-webhook", content=later, headers=retry).status_code == 503
        failing["now"] = False
        assert client.post("/mlflow-webhook", content=later, headers=retry).status_code == 202
        assert [d.version for d in emitted] == ["7", "8"]


def test_headers_are_judged_before_the_body_and_odd_numbers_are_refused() -> None:
    body = payload()
    sent = headers(body)
    # a 400-digit timestamp (it overflowed a float: 500) and digits str.isdigit accepts
    for stamp in ("9" * 400, "³", "1e9", "-5", " 170000000"):
        with pytest.raises(WebhookRejected, match="Unix seconds"):
            check_headers(SECRET, {**sent, "X-MLflow-Timestamp": stamp})
    with pytest.raises(WebhookRejected, match="longer than MLflow sends"):
        check_headers(SECRET, {**sent, "X-MLflow-Delivery-Id": "d" * 5000})
    for version in ("³", "٣", "1.5", "", True, "1" * 40):
        odd = payload(version=version)  # type: ignore[arg-type]
        with pytest.raises(WebhookPayloadError, match=r"data\.version"):
            parse("d", odd.encode())


def test_many_deliveries_of_one_version_start_one_run_and_big_bodies_are_not_read(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    emitted: list[Delivery] = []

    async def emit(delivery: Delivery) -> str:
        emitted.append(delivery)
        return "event"

    app = receiver_app(SECRET, frozenset(), tmp_path, emit, max_body=2048)
    with TestClient(app) as client:
        body = payload(version="12")
        answers = [client.post("/mlflow-webhook", content=body, headers=headers(body)) for _ in range(20)]
        assert [a.status_code for a in answers] == [202] + [200] * 19
        assert {a.json()["status"] for a in answers[1:]} == {"duplicate"}
        assert [d.version for d in emitted] == ["12"]
        big = payload(tags={"pad": "x" * 5000})
        # unsigned: 401 from the headers; signed: 413 from the declared length, or while streaming
        assert client.post("/mlflow-webhook", content=big).status_code == 401
        assert client.post("/mlflow-webhook", content=big, headers=headers(big)).status_code == 413
        streamed = client.post(
            "/mlflow-webhook", content=iter([big.encode()[:1500]] * 4), headers=headers(big)
        )
        assert streamed.status_code == 413
        assert streamed.json()["status"] == "too large"
        assert [d.version for d in emitted] == ["12"]
