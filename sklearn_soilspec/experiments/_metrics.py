"""Goodness-of-fit statistics used in soil spectroscopy, NaN-aware.

Every function drops the pairs where the observation or the prediction is
missing, so that a property measured on only some samples is scored on those
samples; ``n`` reports how many pairs were used.
"""

import numpy as np

__all__ = ["rmse", "r2", "bias", "rpiq", "lins_ccc", "regression_scores"]


def _pairs(y_true, y_pred):
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true has {y_true.size} values but y_pred has {y_pred.size}."
        )
    keep = np.isfinite(y_true) & np.isfinite(y_pred)
    return y_true[keep], y_pred[keep]


def rmse(y_true, y_pred):
    """Root mean squared error over the observed pairs.

    Examples
    --------
    >>> from sklearn_soilspec.experiments import rmse
    >>> round(rmse([1.0, 2.0, float("nan")], [2.0, 4.0, 9.0]), 4)  # sqrt((1 + 4) / 2)
    1.5811
    """
    t, p = _pairs(y_true, y_pred)
    return float(np.sqrt(np.mean((p - t) ** 2))) if t.size else np.nan


def r2(y_true, y_pred):
    """Coefficient of determination, 1 - SSE / SST (NaN for fewer than 2 pairs).

    Examples
    --------
    >>> from sklearn_soilspec.experiments import r2
    >>> r2([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    0.5
    """
    t, p = _pairs(y_true, y_pred)
    if t.size < 2:
        return np.nan
    sst = np.sum((t - t.mean()) ** 2)
    if sst == 0:
        return np.nan
    return float(1.0 - np.sum((t - p) ** 2) / sst)


def bias(y_true, y_pred):
    """Mean error, predicted minus observed: positive means over-estimation.

    Examples
    --------
    >>> from sklearn_soilspec.experiments import bias
    >>> bias([1.0, 2.0], [2.0, 4.0])
    1.5
    """
    t, p = _pairs(y_true, y_pred)
    return float(np.mean(p - t)) if t.size else np.nan


def rpiq(y_true, y_pred):
    """Ratio of performance to inter-quartile distance, IQR(observed) / RMSE.

    Bellon-Maurel et al. (2010, TrAC 29:1073) proposed it instead of RPD
    because soil properties are rarely normally distributed.

    Examples
    --------
    >>> from sklearn_soilspec.experiments import rpiq
    >>> rpiq([1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 3.0, 4.0, 5.0, 6.0])  # IQR 2 / RMSE 1
    2.0
    """
    t, p = _pairs(y_true, y_pred)
    if t.size < 2:
        return np.nan
    q1, q3 = np.percentile(t, [25, 75])
    err = np.sqrt(np.mean((p - t) ** 2))
    return float((q3 - q1) / err) if err > 0 else np.inf


def lins_ccc(y_true, y_pred):
    """Lin's concordance correlation coefficient.

    ``2 cov / (var_t + var_p + (mean_t - mean_p)**2)`` with population
    (1/n) moments, following Lin (1989, Biometrics 45:255): agreement with the
    1:1 line, so unlike Pearson's r it penalises bias and wrong scale.

    Examples
    --------
    >>> from sklearn_soilspec.experiments import lins_ccc
    >>> lins_ccc([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    1.0
    >>> round(lins_ccc([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]), 4)  # 2*(2/3) / (2/3 + 2/3 + 1)
    0.5714
    """
    t, p = _pairs(y_true, y_pred)
    if t.size < 2:
        return np.nan
    mt, mp = t.mean(), p.mean()
    cov = np.mean((t - mt) * (p - mp))
    denom = t.var() + p.var() + (mt - mp) ** 2
    return float(2.0 * cov / denom) if denom > 0 else np.nan


def regression_scores(y_true, y_pred):
    """All statistics at once: rmse, r2, bias, rpiq, ccc and n.

    Returns
    -------
    scores : dict

    Examples
    --------
    >>> from sklearn_soilspec.experiments import regression_scores
    >>> s = regression_scores([1.0, 2.0, 3.0, float("nan")], [1.0, 2.0, 4.0, 1.0])
    >>> s["n"], round(s["rmse"], 4), s["r2"]
    (3, 0.5774, 0.5)
    """
    t, p = _pairs(y_true, y_pred)
    return {
        "rmse": rmse(t, p),
        "r2": r2(t, p),
        "bias": bias(t, p),
        "rpiq": rpiq(t, p),
        "ccc": lins_ccc(t, p),
        "n": int(t.size),
    }
