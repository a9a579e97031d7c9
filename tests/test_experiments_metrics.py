"""Metrics and the paired significance test of the experiments module."""

import numpy as np
import pytest

from sklearn_soilspec.experiments import (
    bias,
    lins_ccc,
    paired_rmse_test,
    r2,
    regression_scores,
    rmse,
    rpiq,
)

Y_TRUE = [1.0, 2.0, 3.0, 4.0]
Y_PRED = [1.5, 2.0, 2.0, 5.0]  # errors +0.5, 0, -1, +1


def test_metrics_against_hand_computed_values():
    assert rmse(Y_TRUE, Y_PRED) == pytest.approx(np.sqrt((0.25 + 0 + 1 + 1) / 4))
    assert bias(Y_TRUE, Y_PRED) == pytest.approx(0.125)
    # SST = 5, SSE = 2.25
    assert r2(Y_TRUE, Y_PRED) == pytest.approx(1 - 2.25 / 5)
    # numpy's linear percentiles of 1..4: 1.75 and 3.25 -> IQR 1.5
    assert rpiq(Y_TRUE, Y_PRED) == pytest.approx(1.5 / np.sqrt(2.25 / 4))
    # means 2.5 and 2.625; population variances 1.25 and 1.921875; cov 1.3125
    expected_ccc = 2 * 1.3125 / (1.25 + 1.921875 + 0.125**2)
    assert lins_ccc(Y_TRUE, Y_PRED) == pytest.approx(expected_ccc)


def test_metrics_ignore_missing_pairs():
    t = Y_TRUE + [np.nan, 7.0]
    p = Y_PRED + [3.0, np.nan]
    scores = regression_scores(t, p)
    assert scores["n"] == 4
    assert scores["rmse"] == pytest.approx(rmse(Y_TRUE, Y_PRED))
    assert scores["ccc"] == pytest.approx(lins_ccc(Y_TRUE, Y_PRED))


def test_ccc_penalises_bias_unlike_correlation():
    t = np.arange(10.0)
    assert lins_ccc(t, t) == pytest.approx(1.0)
    assert lins_ccc(t, t + 5) < 0.5
    assert np.corrcoef(t, t + 5)[0, 1] == pytest.approx(1.0)


def test_metrics_undefined_cases_are_nan():
    assert np.isnan(rmse([np.nan], [1.0]))
    assert np.isnan(r2([1.0], [1.0]))
    assert np.isnan(r2([2.0, 2.0], [1.0, 3.0]))  # no variance to explain
    assert rpiq([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == np.inf


def test_metrics_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="y_true has 2 values but y_pred has 3"):
        rmse([1.0, 2.0], [1.0, 2.0, 3.0])


def test_identical_predictions_give_p_one():
    rng = np.random.default_rng(0)
    y = rng.normal(size=50)
    pred = y + rng.normal(0, 0.5, 50)
    for method in ("bootstrap", "wilcoxon"):
        res = paired_rmse_test(y, pred, pred.copy(), method=method, random_state=0)
        assert res["p_value"] == pytest.approx(1.0)
        assert res["difference"] == 0.0


def test_clearly_better_model_gives_small_p():
    rng = np.random.default_rng(1)
    y = rng.normal(size=80)
    good, poor = y + rng.normal(0, 0.2, 80), y + rng.normal(0, 1.0, 80)
    res = paired_rmse_test(y, good, poor, random_state=0)
    assert res["difference"] < 0
    assert res["ci_high"] < 0
    assert res["p_value"] < 0.01
    assert res["rmse_a"] == pytest.approx(rmse(y, good))
    assert paired_rmse_test(y, good, poor, method="wilcoxon")["p_value"] < 0.01
    # Symmetric: B against A is as significant, with the sign flipped.
    rev = paired_rmse_test(y, poor, good, random_state=0)
    assert rev["difference"] == pytest.approx(-res["difference"])
    assert rev["p_value"] < 0.01


def test_similar_models_are_not_significant():
    rng = np.random.default_rng(2)
    y = rng.normal(size=60)
    a, b = y + rng.normal(0, 0.5, 60), y + rng.normal(0, 0.5, 60)
    assert paired_rmse_test(y, a, b, random_state=0)["p_value"] > 0.05


def test_repeated_samples_are_resampled_as_blocks():
    # The same 20 samples seen in 10 repeats are 20 pieces of evidence, not
    # 200: a block bootstrap gives a wider interval than one treating every
    # row as independent.
    rng = np.random.default_rng(3)
    y = rng.normal(size=20)
    a = y + rng.normal(0, 0.3, 20)
    b = y + rng.normal(0, 0.5, 20)
    reps = 10
    ids = np.tile(np.arange(20), reps)
    t, pa, pb = np.tile(y, reps), np.tile(a, reps), np.tile(b, reps)
    blocked = paired_rmse_test(t, pa, pb, sample_ids=ids, random_state=0)
    naive = paired_rmse_test(t, pa, pb, random_state=0)
    assert blocked["difference"] == pytest.approx(naive["difference"])
    assert (blocked["ci_high"] - blocked["ci_low"]) > 2 * (naive["ci_high"] - naive["ci_low"])


def test_significance_errors():
    with pytest.raises(ValueError, match="method must be 'bootstrap' or 'wilcoxon'"):
        paired_rmse_test([1, 2], [1, 2], [1, 2], method="t-test")
    with pytest.raises(ValueError, match="same length"):
        paired_rmse_test([1, 2], [1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="sample_ids has 1 values for 2 predictions"):
        paired_rmse_test([1, 2], [1, 2], [1, 2], sample_ids=[1])
