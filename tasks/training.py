"""Train the candidate."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from prefect import get_run_logger

from gatekeeper import openmp_policy
from gatekeeper.config import GateConfig
from gatekeeper.data.tables import GateTables, feature_columns
from gatekeeper.train.models import TrainedModel
from gatekeeper.train.pipeline import fit_candidate, sample_weights
from tasks import gate_task

EXAMPLE_ROWS = 5  # training rows logged with the model as its input example


@gate_task
def train_candidate(config: GateConfig, tables: GateTables) -> TrainedModel:
    """Fit the configured builder on train (+ the new labels unless told otherwise)."""
    logger = get_run_logger()
    parts = [tables.train, tables.new_labels] if config.train_on_new_labels else [tables.train]
    frame = pd.concat(parts, ignore_index=True)
    features = feature_columns(config, tables.train)
    logger.info(
        "training candidate on %d rows, %d features (%s); %s",
        len(frame),
        len(features),
        config.trainer or "default pipeline",
        openmp_policy(),
    )
    started = time.perf_counter()
    weights = sample_weights(config, frame)
    if weights is not None:
        logger.info(
            "upweighting %d rows (total weight %.0f over %d rows)",
            int((weights != 1).sum()),
            weights.sum(),
            len(frame),
        )
    model = fit_candidate(config, frame[features], frame[config.target], weights)
    classes = []
    if config.task == "classification":
        classes = [c.item() if hasattr(c, "item") else c for c in np.unique(frame[config.target])]
    logger.info("candidate trained in %.1f s", time.perf_counter() - started)
    return TrainedModel(
        model=model,
        features=features,
        classes=classes,
        n_train=len(frame),
        example=frame[features].head(EXAMPLE_ROWS).reset_index(drop=True),
    )
