"""The comparison on time-ordered evaluation rows (`time_column`): where the two models' advantage
moves with a regime that lasts, rows are resampled in time blocks of the delta's measured correlation
length (`gatekeeper.stats.time_blocks.in_time_blocks`); independent rows compare exactly as before."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gatekeeper.compare.segments import compare_models
from gatekeeper.decide.scores import compare_scores, options_policy
from gatekeeper.demo.worlds import lasting_regime
from gatekeeper.stats.bootstrap import paired_delta
from gatekeeper.stats.rows import PairedRows
from gatekeeper.stats.time_blocks import in_time_blocks
from tests.builders import make_config


def _numeric(n: int, phi: float, rng: np.random.Generator) -> pd.DataFrame:
    """A target both models miss by part of the regime, each its own part (MAE)."""
    r = lasting_regime(n, phi, rng)
    y = rng.normal(size=n)
    return pd.DataFrame(
        {
            "minute": np.arange(n),  # one row a minute: time breaks every tie
            "region": rng.choice(["north", "south"], n),
            "y": y,
            "candidate": y - 0.3 * r + rng.normal(0, 0.5, n),
            "champion": y - 0.8 * r + rng.normal(0, 0.45, n),
        }
    )


def _binary(n: int, phi: float, rng: np.random.Generator) -> pd.DataFrame:
    """Two classes whose models' confidence moves with the regime in opposite ways (ROC AUC)."""
    r = lasting_regime(n, phi, rng)
    y = (rng.random(n) < 0.5).astype(int)
    sign = np.where(y == 1, 1.0, -1.0)
    return pd.DataFrame(
        {
            "minute": np.arange(n),  # one row a minute: time breaks every tie
            "region": rng.choice(["north", "south"], n),
            "y": y,
            "candidate": 1 / (1 + np.exp(-sign * (0.8 + 0.6 * r + rng.normal(0, 1, n)))),
            "champion": 1 / (1 + np.exp(-sign * (0.9 - 0.6 * r + rng.normal(0, 1, n)))),
        }
    )


def _rows(frame: pd.DataFrame) -> PairedRows:
    if frame["y"].dtype == float:
        return PairedRows.regression(frame["y"], frame["candidate"].to_numpy(), frame["champion"].to_numpy())
    proba = [np.column_stack([1 - frame[c], frame[c]]) for c in ("candidate", "champion")]
    return PairedRows.from_labels(frame["y"].to_numpy(), proba[0], proba[1], [0, 1])


def _gate(frame: pd.DataFrame, time: bool):
    regression = frame["y"].dtype == float
    config = make_config(
        target="y",
        task="regression" if regression else "classification",
        primary_metric="mae" if regression else "roc_auc",
        segments=["region"],
        key_segments=[],
        **({"time_column": "minute"} if time else {}),
    )
    return compare_models(frame, _rows(frame), config)


def _overall_and_segments(a, b) -> list:
    """Each comparison's overall and segment results, paired."""
    return list(zip([a.overall, *a.segments], [b.overall, *b.segments], strict=True))


def _width(delta) -> float:
    lo, hi = np.quantile(delta.resamples, [0.025, 0.975])
    return float(hi - lo)


@pytest.mark.parametrize("world", [_numeric, _binary], ids=["numeric", "binary"])
def test_independent_rows_with_a_time_column_compare_exactly_as_before(world) -> None:
    frame = world(6_000, 0.0, np.random.default_rng(1))
    with_time, without = _gate(frame, time=True), _gate(frame, time=False)
    for a, b in _overall_and_segments(with_time, without):
        assert a.primary.method == b.primary.method
        assert "time blocks" not in a.primary.method
        np.testing.assert_array_equal(a.primary.resamples, b.primary.resamples)


@pytest.mark.parametrize("world", [_numeric, _binary], ids=["numeric", "binary"])
def test_a_lasting_regime_is_resampled_in_time_blocks_in_every_segment(world) -> None:
    frame = world(8_000, 0.99, np.random.default_rng(2))
    blocked = _gate(frame, time=True)
    # the same rows shuffled, no time column: nothing ties them in the file, each is its own unit
    rows_only = _gate(frame.sample(frac=1.0, random_state=3), time=False)
    for a, b in _overall_and_segments(blocked, rows_only):
        assert "bootstrap over" not in b.primary.method, b.primary.method
        assert "time blocks of" in a.primary.method, a.primary.method
        assert a.primary.delta == pytest.approx(b.primary.delta, rel=1e-9)  # only the interval moves
        assert _width(a.primary) > 2 * _width(b.primary)
    # the blocks follow time, not the file: the same rows in another order, the same comparison
    shuffled = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    again = _gate(shuffled, time=True).overall.primary
    assert again.method == blocked.overall.primary.method
    np.testing.assert_allclose(
        np.sort(again.resamples), np.sort(blocked.overall.primary.resamples), rtol=1e-9
    )


def test_rows_of_one_time_share_a_block_whatever_the_file_order() -> None:
    """Ten rows a day: a block holds whole days, and the same rows in another file order (the order
    inside a day too) get the same blocks and the same interval."""
    frame = _numeric(8_000, 0.99, np.random.default_rng(6)).assign(day=lambda f: f["minute"] // 10)
    times = frame["day"].to_numpy(dtype=float)
    blocked, length = in_time_blocks(_rows(frame), times, "mae")
    assert length > 10
    assert "time blocks of about" in blocked.unit
    per_day = pd.DataFrame({"day": frame["day"], "block": blocked.clusters}).groupby("day")["block"].nunique()
    assert (per_day == 1).all()  # no day is split
    shuffled = frame.sample(frac=1.0, random_state=1).reset_index(drop=True)
    again, same = in_time_blocks(_rows(shuffled), shuffled["day"].to_numpy(dtype=float), "mae")
    assert same == length
    blocks = pd.Series(blocked.clusters, index=frame["minute"])
    assert (pd.Series(again.clusters, index=shuffled["minute"]).sort_index() == blocks.sort_index()).all()
    rng = [np.random.default_rng(0), np.random.default_rng(0)]
    a, b = (
        paired_delta("mae", r, n_resamples=300, rng=g) for r, g in zip((blocked, again), rng, strict=True)
    )
    np.testing.assert_allclose(a.resamples, b.resamples, rtol=1e-9)


def test_blocks_are_made_longer_past_the_cap_and_the_interval_holds(monkeypatch) -> None:
    """Many short blocks cost a draw each per resample: past MAX_TIME_BLOCKS they are made longer."""
    import gatekeeper.stats.time_blocks as time_blocks

    rows = _rows(_numeric(6_000, 0.99, np.random.default_rng(5)))
    measured, length = in_time_blocks(rows, np.arange(rows.n), "mae")
    assert 1 < length < 600
    monkeypatch.setattr(time_blocks, "MAX_TIME_BLOCKS", 10)
    capped, longer = in_time_blocks(rows, np.arange(rows.n), "mae")
    assert longer == 600
    assert int(np.unique(capped.clusters).size) == 10
    rng = np.random.default_rng(0)
    widths = [_width(paired_delta("mae", r, n_resamples=500, rng=rng)) for r in (measured, capped)]
    assert 0.5 < widths[1] / widths[0] < 2  # the same evidence, in fewer and longer blocks


def test_entities_stay_the_unit_when_rows_carry_them() -> None:
    frame = _numeric(4_000, 0.99, np.random.default_rng(3))
    rows = _rows(frame).with_clusters(np.arange(len(frame)) // 7)
    same, length = in_time_blocks(rows, np.arange(len(frame)), "mae")
    assert same is rows
    assert length == 1


def _scores_policy():
    """compare-scores' options: ROC AUC by region, 500 resamples."""
    return options_policy(
        metrics=["roc_auc"],
        segments=["region"],
        keys=[],
        max_regression=0.0,
        min_improvement=0.002,
        min_segment_rows=200,
        level=0.95,
        resamples=500,
        seed=0,
        correction="holm",
    )


def test_compare_scores_with_a_time_column_resamples_time_blocks() -> None:
    frame = _binary(8_000, 0.99, np.random.default_rng(4))
    policy = _scores_policy().model_copy(update={"time_column": "minute"})
    decision = compare_scores(
        frame, source="frame", label="y", champion="champion", candidate="candidate", policy=policy
    )
    assert "time blocks of" in decision.overall.method, decision.overall.method


@pytest.mark.slow
@pytest.mark.parametrize("world", [_numeric, _binary], ids=["numeric", "binary"])
def test_time_block_intervals_hold_the_true_delta_where_row_intervals_do_not(world) -> None:
    """120 stretches of 6,000 rows of a world whose regime lasts ~100 rows: the rows' 95% interval
    held the true delta in 26% (MAE) and 19% (ROC AUC) of them, the time blocks' in 85% and 75%
    (measured 2026-12-07; blocks of 128 rows)."""
    metric = "mae" if world is _numeric else "roc_auc"
    truth = paired_delta(
        metric,
        _rows(world(1_000_000, 0.99, np.random.default_rng(99))),
        n_resamples=1,
        rng=np.random.default_rng(0),
    ).delta
    held = {"rows": 0, "blocks": 0}
    trials = 120
    for i in range(trials):
        rows = _rows(world(6_000, 0.99, np.random.default_rng(i)))
        blocked, length = in_time_blocks(rows, np.arange(rows.n), metric)
        assert length > 1
        for name, these in (("rows", rows), ("blocks", blocked)):
            d = paired_delta(metric, these, n_resamples=500, rng=np.random.default_rng(1000 + i))
            lo, hi = np.quantile(d.resamples, [0.025, 0.975])
            held[name] += int(lo <= truth <= hi)
    assert held["rows"] / trials < 0.4, held
    assert held["blocks"] / trials > 0.65, held
    assert held["blocks"] - held["rows"] > 0.35 * trials, held


# ---------------------------------------------------------------- no time column: the file's order


@pytest.mark.parametrize("world", [_numeric, _binary], ids=["numeric", "binary"])
def test_without_a_time_column_a_regime_in_the_file_order_is_resampled_in_runs(world) -> None:
    """The data checks read a file without a time column in its own order; so does the comparison:
    rows in time order with no time column named get the blocks the time column would give."""
    frame = world(8_000, 0.99, np.random.default_rng(7))
    runs, timed = _gate(frame, time=False), _gate(frame, time=True)
    for a, b in _overall_and_segments(runs, timed):
        assert "(the file's order)" in a.primary.method, a.primary.method
        blocks = [d.primary.method.split(" over ")[1].split()[0] for d in (a, b)]
        assert blocks[0] == blocks[1]  # as many runs as the time column's blocks
        np.testing.assert_array_equal(a.primary.resamples, b.primary.resamples)  # the same blocks


def _sorted_world(
    n: int, task: str, rng: np.random.Generator, by: tuple[str, ...] = ("region", "y")
) -> pd.DataFrame:
    """Independent rows whose models differ by region and by class (the candidate better in the
    north, worse in the south), written to the file sorted `by` (region, then label)."""
    region = rng.choice(["north", "south", "east", "west"], n)
    gain = pd.Series(region).map({"north": 0.3, "south": -0.2, "east": 0.1, "west": 0.0}).to_numpy()
    if task == "regression":
        y = rng.normal(size=n)
        candidate = y + rng.normal(0, 1.0 - gain, n)
        champion = y + rng.normal(0, 1.0, n)
    else:
        y = (rng.random(n) < 0.3).astype(int)
        sign = np.where(y == 1, 1.0, -1.0)
        candidate = 1 / (1 + np.exp(-sign * (0.8 + 3 * gain + rng.normal(0, 1, n))))
        champion = 1 / (1 + np.exp(-sign * (0.8 + rng.normal(0, 1, n))))
    frame = pd.DataFrame(
        {"minute": np.arange(n), "region": region, "y": y, "candidate": candidate, "champion": champion}
    )
    return frame.sort_values(list(by), kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_a_file_sorted_by_segment_and_label_is_not_read_as_a_regime(task) -> None:
    """Rows independent within each region and class, the file sorted by both: the delta's level
    steps at each boundary, which is no lasting regime; the rows stay their own units, exactly as
    in the shuffled file."""
    frame = _sorted_world(8_000, task, np.random.default_rng(8))
    if task == "classification":
        frame["y"] = frame["y"].astype(int)
    sorted_file = _gate(frame, time=False)
    shuffled = _gate(frame.sample(frac=1.0, random_state=4).reset_index(drop=True), time=False)
    for a, b in _overall_and_segments(sorted_file, shuffled):
        assert "bootstrap over" not in a.primary.method, a.primary.method
        assert _width(a.primary) == pytest.approx(_width(b.primary), rel=0.1)


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_the_file_order_measure_takes_out_the_label_and_segment_levels(task) -> None:
    """Without the configured segments taken out, the sorted file's steps would read as a regime."""
    by = ("region",) if task == "regression" else ("region", "y")  # sorted by a numeric target: below
    frame = _sorted_world(8_000, task, np.random.default_rng(9), by)
    region = pd.Index(["east", "north", "south", "west"]).get_indexer(frame["region"])
    name = "mae" if task == "regression" else "roc_auc"
    assert in_time_blocks(_rows(frame), None, name, [region])[1] == 1
    assert in_time_blocks(_rows(frame), None, name)[1] > 1  # the region's steps, not taken out


@pytest.mark.parametrize(
    ("task", "by", "metric"),
    [
        ("regression", "y", "mae"),
        ("regression", "candidate", "rmse"),
        ("classification", "candidate", "accuracy"),
        ("classification", "champion", "log_loss"),
    ],
)
def test_a_file_sorted_by_the_target_or_a_score_is_not_read_as_time(task, by, metric) -> None:
    """A model misses differently across the target's range (here: one shrinks it, one does not), so
    in a file sorted by the target or by a score the delta drifts along the order without any regime:
    such an order is not time, and the rows stay their own units (within each region too)."""
    rng = np.random.default_rng(12)
    n = 20_000
    if task == "regression":
        y = rng.normal(size=n)
        frame = pd.DataFrame({"y": y, "candidate": 0.8 * y + rng.normal(0, 0.5, n), "champion": 0.6 * y})
        frame["champion"] += rng.normal(0, 0.5, n)
    else:
        z = rng.normal(size=n)
        y = (rng.random(n) < 1 / (1 + np.exp(-2 * z))).astype(int)
        frame = pd.DataFrame(
            {
                "y": y,
                "candidate": 1 / (1 + np.exp(-(2.4 * z + rng.normal(0, 0.3, n)))),
                "champion": 1 / (1 + np.exp(-(1.2 * z + rng.normal(0, 0.8, n)))),
            }
        )
    frame["region"] = rng.choice(["north", "south"], n)
    for order in ([by], ["region", by]):
        sorted_file = frame.sort_values(order, kind="stable").reset_index(drop=True)
        rows = _rows(sorted_file)
        assert in_time_blocks(rows, None, metric)[1] == 1, order
    # the same drift along a time column is time, whatever causes it: nothing is taken out there
    timed = frame.sort_values(by, kind="stable").reset_index(drop=True)
    assert in_time_blocks(_rows(timed), np.arange(n), metric)[1] > 1


def test_along_a_time_column_a_segment_s_own_level_stays_in_the_measure() -> None:
    """Twelve months, each with its own advantage, `month` a configured segment: along the time column
    the months are the regime (nothing is taken out). In the file's order the same file reads as one
    grouped by segment, whose level is taken out: where the order is time, the time column says so."""
    rng = np.random.default_rng(13)
    n = 24_000
    month = np.repeat(np.arange(12), n // 12)
    y = rng.normal(size=n)
    advantage = rng.normal(0, 0.3, 12)[month]
    frame = pd.DataFrame(
        {
            "month": month,
            "y": y,
            "candidate": y + rng.normal(0, 1.0, n) * (1 - advantage),
            "champion": y + rng.normal(0, 1.0, n),
        }
    )
    assert in_time_blocks(_rows(frame), frame["month"].to_numpy(dtype=float), "mae", [month])[1] > 1
    assert in_time_blocks(_rows(frame), None, "mae", [month])[1] == 1


def test_the_handed_over_estimates_stay_with_the_rows_they_were_measured_on() -> None:
    frame = _numeric(4_000, 0.99, np.random.default_rng(14))
    blocked, _ = in_time_blocks(_rows(frame), None, "mae")
    assert set(blocked.measured) == {"mae"}
    assert blocked.take(np.arange(100)).measured == {}  # other rows: nothing handed over


def test_compare_scores_without_a_time_column_reads_the_file_order() -> None:
    frame = _binary(8_000, 0.99, np.random.default_rng(10))
    policy = _scores_policy()
    ordered = compare_scores(
        frame, source="frame", label="y", champion="champion", candidate="candidate", policy=policy
    )
    assert "(the file's order)" in ordered.overall.method, ordered.overall.method
    shuffled = compare_scores(
        frame.sample(frac=1.0, random_state=5),
        source="frame",
        label="y",
        champion="champion",
        candidate="candidate",
        policy=policy,
    )
    assert "bootstrap over" not in shuffled.overall.method, shuffled.overall.method


def test_the_primary_metric_is_estimated_once_for_the_blocks_and_the_overall_comparison(monkeypatch) -> None:
    """The block measure's estimates are the overall comparison's: each model's primary metric is
    computed once on all the rows, not twice."""
    import gatekeeper.stats.bootstrap as bootstrap
    import gatekeeper.stats.time_blocks as time_blocks

    frame = _numeric(4_000, 0.99, np.random.default_rng(11))
    calls: list[int] = []
    real = bootstrap.estimate

    def counted(name, targets, outputs):
        calls.append(len(outputs))
        return real(name, targets, outputs)

    for module in (bootstrap, time_blocks):
        monkeypatch.setattr(module, "estimate", counted)
    comparison = _gate(frame, time=False)
    assert "runs of" in comparison.overall.primary.method
    assert calls.count(len(frame)) == 2  # candidate and champion, once each


# ---------------------------------------------------------------- rows needed, in units


def test_rows_needed_count_the_units_not_the_rows() -> None:
    """A segment without enough evidence says how many rows would be enough: where rows move together
    in runs, that figure grows with the design effect (the sd behind it is the clustered one), and
    with every row its own unit it is the rows' own."""
    from gatekeeper.decide.decision import Evidence, with_comparison
    from gatekeeper.decide.policy import decide
    from gatekeeper.stats.bootstrap import cluster_sums, clustered_sd
    from gatekeeper.stats.inference import rows_needed

    rng = np.random.default_rng(15)
    n = 8_000
    r = lasting_regime(n, 0.99, rng)
    y = rng.normal(size=n)
    frame = pd.DataFrame(  # equal on average; the candidate's error grows with the regime
        {
            "region": rng.choice(["north", "south"], n),
            "y": y,
            "candidate": y + rng.normal(0, 1, n) * 0.5 * np.exp(0.3 * r),
            "champion": y + rng.normal(0, 0.5225, n),
        }
    )
    config = make_config(
        target="y", task="regression", primary_metric="mae", segments=["region"], key_segments=[]
    )
    shuffle = np.random.default_rng(0).permutation(len(frame))
    shuffled = frame.iloc[shuffle].reset_index(drop=True)
    runs, rows = (compare_models(f, _rows(f), config) for f in (frame, shuffled))
    for a, b in _overall_and_segments(runs, rows):
        assert "runs of" in a.primary.method
        assert a.primary.influence_sd > 1.5 * b.primary.influence_sd  # the design effect's root
        spread = float(np.std(a.primary.resamples)) * np.sqrt(a.n)  # what the bootstrap itself saw
        assert spread == pytest.approx(a.primary.influence_sd, rel=0.3)
    evidence = Evidence("m", "mae", champion_version="1", candidate_version="2")
    decision = decide(with_comparison(evidence, runs), config)
    needed = {r.segment: r for r in decision.segments if r.rows_needed}
    assert needed, decision.segments  # a segment lacks evidence (else the test says nothing)
    by_name = {c.segment: c for c in rows.segments}
    for name, result in needed.items():
        effect, level = result.rows_needed_for_effect, config.statistics.confidence_level
        as_rows = rows_needed(by_name[name].primary.influence_sd, effect, level)
        assert result.rows_needed > 2 * as_rows, (name, result.rows_needed, as_rows)

    influence = np.random.default_rng(18).normal(size=5_000)
    alone = clustered_sd(influence, *cluster_sums(influence, np.arange(5_000)))
    assert alone == pytest.approx(float(influence.std()), rel=1e-12)
