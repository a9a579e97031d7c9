"""resemble's local cross-validation (``validation_type = "local_cv"``).

Every neighbourhood is split ``number`` times into a calibration part
(``p`` of its rows) and a validation part drawn stratified on the property;
the local models fitted on each calibration part predict its validation
part. With ``tune_locally = TRUE`` (resemble's default) the number of PLS
components, or the ``(min, max)`` range of the WA-PLS, with the lowest mean
RMSE is then used for the query. The WA-PLS weights of every range are those
of the model on the whole neighbourhood for the query, renormalised over the
range, as in resemble's ``opls_cv_cpp``.
"""

import numpy as np

from ._local_fit import local_pls, wapls_weights

__all__ = ["local_cv_predict"]


def _stratified_holdout(y, mask, n_out, rng):
    """One validation draw per neighbourhood: a row from each of ``n_out[i]``
    strata of consecutive property ranks (resemble's ``sample_stratified``)."""
    m, k = y.shape
    n = mask.sum(axis=1)
    ranked = np.argsort(np.where(mask, y, np.inf), axis=1, kind="stable")
    strata = np.arange(n_out.max())[None, :]
    valid = strata < n_out[:, None]
    # Stratum s of neighbourhood i holds ranks [s n_i / n_out_i, (s+1) n_i / n_out_i).
    lo = np.floor(strata * n[:, None] / n_out[:, None]).astype(int)
    hi = np.floor((strata + 1) * n[:, None] / n_out[:, None]).astype(int)
    pick = lo + np.floor(rng.random(lo.shape) * (hi - lo)).astype(int)
    pick = np.where(valid, pick, pick[:, :1])  # unused strata repeat the first draw
    out = np.zeros((m, k), bool)
    np.put_along_axis(out, np.take_along_axis(ranked, pick, axis=1), True, axis=1)
    return out


def local_cv_predict(X, y, xq, components, *, model, mask, scale, modified, clip,
                     number, p, rng):
    """Query predictions with locally cross-validated components.

    Returns ``(prediction, local RMSE)``, each of shape (m,): the RMSE is the
    mean over the splits of the chosen setting.
    """
    lo, hi = components
    if model == "pls":
        lo = 1  # resemble tunes a PLS over 1 to ncomp components
    n = mask.sum(axis=1)
    n_out = np.maximum(1, np.floor((1 - p) * n + 1e-9).astype(int))
    # resemble caps the components by the calibration part's size.
    n_min = int(n.min())
    hi = max(1, min(hi, int(np.floor(min(X.shape[2], n_min) * p)) - 1,
                    int((n - n_out).min()) - 1))
    lo = min(lo, hi)
    y_full, resid, coef_rms = local_pls(X, y, xq, hi, mask=mask, scale=scale, modified=modified)
    y_full = y_full[:, 0]
    if model == "pls":
        settings = [(a, a) for a in range(lo, hi + 1)]
        weights = None
    else:
        settings = [(a, b) for a in range(lo, hi + 1) for b in range(a + 1, hi + 1)] or [(lo, hi)]
        w = np.zeros((X.shape[0], hi))
        w[:, lo - 1:] = wapls_weights(resid[:, 0, lo - 1:], coef_rms[:, lo - 1:])
        weights = np.cumsum(w, axis=1)
    sq = np.zeros((X.shape[0], len(settings)))
    for _ in range(number):
        held = _stratified_holdout(y, mask, n_out, rng)
        y_cv = local_pls(X, y, X, hi, mask=mask & ~held, scale=scale, modified=modified,
                         residuals=False)[0]
        err = np.empty((X.shape[0], len(settings)))
        for s, (a, b) in enumerate(settings):
            if weights is None:
                pred = y_cv[:, :, a - 1]
            else:
                total = weights[:, b - 1] - (weights[:, a - 2] if a > 1 else 0)
                wab = w[:, a - 1 : b] / total[:, None]
                pred = np.einsum("ma,mka->mk", wab, y_cv[:, :, a - 1 : b])
            err[:, s] = np.sqrt(np.sum(np.where(held, (pred - y) ** 2, 0.0), axis=1)
                                / held.sum(axis=1))
        sq += err
    rmse = sq / number
    best = np.argmin(rmse, axis=1)
    out = np.empty(X.shape[0])
    for s, (a, b) in enumerate(settings):
        rows = best == s
        if not rows.any():
            continue
        if weights is None:
            out[rows] = y_full[rows, a - 1]
        else:
            wab = w[rows, a - 1 : b]
            out[rows] = np.sum(wab * y_full[rows, a - 1 : b], axis=1) / wab.sum(axis=1)
    if clip:
        out = np.clip(out, np.where(mask, y, np.inf).min(axis=1),
                      np.where(mask, y, -np.inf).max(axis=1))
    return out, rmse[np.arange(X.shape[0]), best]
