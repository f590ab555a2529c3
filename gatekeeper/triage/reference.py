"""A champion's reference performance measured now: how a hand-promoted champion is adopted (pure)."""

from __future__ import annotations

import pandas as pd

from gatekeeper.config import GateConfig, PolicyConfig
from gatekeeper.data.segments import config_segments
from gatekeeper.findings import ChampionReference
from gatekeeper.metrics import Array, estimate, metric
from gatekeeper.stats.rows import PairedRows
from gatekeeper.train.models import TrainedModel, model_outputs


def model_rows(
    config: GateConfig, frame: pd.DataFrame, model: TrainedModel, outputs: Array | None = None
) -> PairedRows:
    """`model`'s outputs on `frame` against its targets (in `rows.candidate`); columns the model needs
    and the frame lacks are scored as missing values. `outputs`: already scored (`score_on`)."""
    if outputs is None:
        outputs = score_on(frame, model)
    y = frame[config.target].to_numpy()
    if config.task == "regression":
        return PairedRows.regression(y, outputs, None)
    return PairedRows.from_labels(y, outputs, None, model.classes, config.positive_label)


def score_on(frame: pd.DataFrame, model: TrainedModel) -> Array:
    """`model`'s outputs (class probabilities in its classes' order, or predictions) on `frame`."""
    return model_outputs(model.model, frame.reindex(columns=model.features), model.classes)


def reference_of(frame: pd.DataFrame, rows: PairedRows, config: PolicyConfig) -> ChampionReference | None:
    """The primary metric of the model in `rows.candidate` on `frame`, overall and per configured
    segment, as a gate run records it for a champion it promotes (segments too small for the
    metric, or where it is undefined, are left out, as they are there). None when undefined overall."""
    name = config.primary_metric
    m = metric(name)
    values: dict[str, float] = {}
    counts: dict[str, int | None] = {}
    for segment, index in config_segments(frame, config):
        part = rows.take(index)
        if segment != "overall" and (
            len(index) < config.min_segment_rows
            or m.too_few_of_a_class(part.minority(), config.min_class_rows)
        ):
            continue
        value = estimate(name, part.targets, part.candidate).value
        if value is None:
            continue
        values[segment] = float(value)
        counts[segment] = len(index)
    overall = values.pop("overall", None)
    if overall is None:
        return None
    return ChampionReference(metric=name, overall=overall, segments=values, rows=counts)
