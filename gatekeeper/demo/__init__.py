"""The demo: a seeded transaction simulator and its scenarios.

The scenarios' names and stories live here, not in the simulator, so the CLI can list them
without importing numpy and pandas.
"""

SCENARIOS: dict[str, str] = {
    "improves": "fraudsters moved on; a large batch of new labels shows how: the champion has degraded, "
    "the retrained candidate recovers and should be promoted",
    "sign-off": "fraudsters moved on, as in improves, and this team wants a person to sign off every "
    "promotion (require_approval): the clearly better candidate waits for a reviewer (needs_review); "
    "approve or reject it with the command the run prints",
    "hurts-key-segment": "the same new labels, trained with a cheaper global linear pipeline: better on "
    "average, worse on the small chrome-beta segment, so the candidate should be rejected",
    "broken-feature": "the cookie feature is null for every safari row of the new batch: the run should "
    "be blocked, the feature named, and the batch quarantined",
    "unconfigured-slice-fault": "the nightly loader (hours 0-5) writes account_age_days as 0: no "
    "configured segment is broken, the slice search finds it, and the run is blocked naming the "
    "feature and the slice",
    "gain-reverses-over-time": "fraudsters moved on, then came back: the candidate learned the new pattern "
    "and is better on most of the evaluation window, but worse in its newest quarter of time "
    "(time_column): rejected, gain not stable over time",
    "no-retrain-needed": "1,000 new labels from an unchanged world: the champion performs as it did, and "
    "the learning curve expects less from them than this team's stated retrain cost, so retraining is "
    "skipped (not_retrained)",
    "more-data-pays": "30,000 new labels from an unchanged world, 7x the champion's training data: no "
    "degradation, but the learning curve expects a clear gain, so the gate retrains and promotes",
    "label-noise": "in an unchanged world, 40% of the new labels for country=BR are flipped by a labelling "
    "fault: blocked with "
    "diagnosis label_quality before any training",
    "drift-beyond-retraining": "fraud stopped following the features: the champion collapses and a "
    "retrained candidate cannot recover, so it is rejected with diagnosis concept_drift_beyond_retraining",
    "small-segment-needs-data": "retraining is warranted, but the evaluation rows hold only 120 chrome-beta "
    "transactions: blocked with diagnosis small_segment_needs_data and the rows to collect",
    "natural-regimes": "transactions in time order (time_column), fraud campaigns come and go by nature and "
    "a published exchange rate stays put for weeks; nothing is broken: rows are counted in independent "
    "units of time, and the new week is judged against how far the reference moved, so it is not blocked",
    "regression-label-fault": "basket values of six stores (a number, task regression); one store's new "
    "labels arrive halved (a unit change in its export) while its features are as before: blocked with "
    "diagnosis label_quality naming store=S3",
}
