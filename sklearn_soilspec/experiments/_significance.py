"""Is model A really better than model B on the same test samples?

The study reports RMSE, so the default test is a paired bootstrap of the RMSE
difference itself: test samples are resampled with replacement, both models'
errors travel together (paired), and the p-value is read from where zero falls
in the bootstrap distribution of ``RMSE_a - RMSE_b`` (confidence-interval
inversion; Efron & Tibshirani 1993, ch. 16; Koehn 2004 uses the same paired
resampling to compare two systems). It assumes nothing about the shape of the
errors, which for soil properties are skewed and heavy-tailed, and it tests
the quantity the table shows. When random repeats put one sample in several
test sets, its predictions are resampled as one block (``sample_ids``), so a
sample seen three times does not count as three independent pieces of
evidence.

The Wilcoxon signed-rank test on the squared-error differences is offered as
a classical alternative; it tests whether one model's squared errors tend to
be smaller (a median statement), not the RMSE.
"""

import numpy as np
from scipy import stats

__all__ = ["paired_rmse_test"]


def paired_rmse_test(
    y_true,
    y_pred_a,
    y_pred_b,
    *,
    sample_ids=None,
    method="bootstrap",
    n_resamples=2000,
    confidence=0.95,
    random_state=None,
):
    """Paired test of the RMSE difference between two models.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Observations; pairs with a missing observation or prediction are
        dropped.
    y_pred_a, y_pred_b : array-like of shape (n,)
        Predictions of the two models for the same rows.
    sample_ids : array-like of shape (n,), default=None
        Sample of each row. Rows of the same sample (one sample in the test
        set of several repeats) are resampled together. None: every row is
        its own sample.
    method : {"bootstrap", "wilcoxon"}, default="bootstrap"
        Paired bootstrap of the RMSE difference, or Wilcoxon signed-rank test
        on the differences of squared errors.
    n_resamples : int, default=2000
        Bootstrap resamples.
    confidence : float, default=0.95
        Level of the bootstrap interval of the difference.
    random_state : int, Generator or None, default=None
        Seed of the bootstrap.

    Returns
    -------
    result : dict
        ``rmse_a``, ``rmse_b``, ``difference`` (``rmse_a - rmse_b``; negative
        means A is better), ``ci_low`` and ``ci_high`` (bootstrap interval of
        the difference, NaN for Wilcoxon), ``p_value`` (two-sided), ``n``
        (pairs used) and ``method``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_soilspec.experiments import paired_rmse_test
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(size=200)
    >>> good, poor = y + rng.normal(0, 0.1, 200), y + rng.normal(0, 1.0, 200)
    >>> res = paired_rmse_test(y, good, poor, random_state=0)
    >>> res["difference"] < 0, res["p_value"] < 0.01
    (True, True)
    >>> paired_rmse_test(y, good, good, random_state=0)["p_value"]
    1.0
    """
    if method not in ("bootstrap", "wilcoxon"):
        raise ValueError(f"method must be 'bootstrap' or 'wilcoxon', got {method!r}.")
    t = np.asarray(y_true, dtype=np.float64).ravel()
    a = np.asarray(y_pred_a, dtype=np.float64).ravel()
    b = np.asarray(y_pred_b, dtype=np.float64).ravel()
    if not (t.shape == a.shape == b.shape):
        raise ValueError(
            f"y_true, y_pred_a and y_pred_b must have the same length, got "
            f"{t.size}, {a.size} and {b.size}."
        )
    ids = np.arange(t.size) if sample_ids is None else np.asarray(sample_ids).ravel()
    if ids.shape != t.shape:
        raise ValueError(f"sample_ids has {ids.size} values for {t.size} predictions.")
    keep = np.isfinite(t) & np.isfinite(a) & np.isfinite(b)
    t, a, b, ids = t[keep], a[keep], b[keep], ids[keep]
    out = {"rmse_a": np.nan, "rmse_b": np.nan, "difference": np.nan, "ci_low": np.nan,
           "ci_high": np.nan, "p_value": np.nan, "n": int(t.size), "method": method}
    if t.size < 2:
        return out
    se_a, se_b = (a - t) ** 2, (b - t) ** 2
    out["rmse_a"], out["rmse_b"] = float(np.sqrt(se_a.mean())), float(np.sqrt(se_b.mean()))
    out["difference"] = out["rmse_a"] - out["rmse_b"]
    if method == "wilcoxon":
        d = se_a - se_b
        # All-zero differences: the models agree exactly, nothing to reject.
        out["p_value"] = 1.0 if not np.any(d) else float(stats.wilcoxon(d).pvalue)
        return out

    # Sum squared errors and counts per sample once, so one resample is a
    # weighted sum over samples: cheap for thousands of resamples.
    _, inv = np.unique(ids, return_inverse=True)
    k = inv.max() + 1
    sum_a = np.bincount(inv, weights=se_a, minlength=k)
    sum_b = np.bincount(inv, weights=se_b, minlength=k)
    count = np.bincount(inv, minlength=k).astype(np.float64)
    rng = np.random.default_rng(random_state)
    diffs = np.empty(n_resamples)
    # Chunks bound memory at about 8 MB whatever the number of samples.
    chunk = max(1, 1_000_000 // k)
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        # How often each sample is drawn in a resample of size k.
        w = rng.multinomial(k, np.full(k, 1.0 / k), size=stop - start).astype(np.float64)
        n = w @ count
        diffs[start:stop] = np.sqrt((w @ sum_a) / n) - np.sqrt((w @ sum_b) / n)
    alpha = 1.0 - confidence
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    out["ci_low"], out["ci_high"] = float(low), float(high)
    # Two-sided p-value by inverting the percentile interval; the +1 keeps a
    # finite number of resamples from claiming p = 0.
    tail = min(np.sum(diffs <= 0), np.sum(diffs >= 0))
    out["p_value"] = float(min(1.0, 2.0 * (tail + 1) / (n_resamples + 1)))
    return out
