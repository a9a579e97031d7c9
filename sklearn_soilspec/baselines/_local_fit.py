"""Local PLS / WA-PLS fits of many neighbourhoods at once, as resemble's ``mbl``.

Every query has its own neighbourhood; the neighbourhoods of a batch are
stacked into one ``(m, k, p)`` array and every NIPALS step is a batched
matrix product. Neighbourhoods of different sizes (dissimilarity thresholds)
share one array: ``mask`` marks the rows that belong to each, and the others
are zeroed after centring, so that they add nothing to any cross-product.
"""

import numpy as np

__all__ = ["local_pls", "wapls_weights", "local_predict"]


def local_pls(X, y, Xq, n_components, mask=None, scale=False, modified=False, residuals=True):
    """NIPALS PLS1 on ``m`` neighbourhoods, each predicting its own queries.

    With ``scale=False, modified=False`` this equals
    ``PLSRegression(n_components=a, scale=False)`` fitted on ``X[i], y[i]``
    for every ``a``.

    Parameters
    ----------
    X : ndarray of shape (m, k, p)
        Neighbour spectra (predictors) of each query.
    y : ndarray of shape (m, k)
        Their property values.
    Xq : ndarray of shape (m, q, p)
        The rows to predict with each neighbourhood's model (usually one).
    n_components : int
        Components fitted; at most the smallest neighbourhood size minus one.
    mask : ndarray of bool of shape (m, k), default=None
        Rows of each neighbourhood that are used (all when None).
    scale : bool, default=False
        Divide every predictor by its standard deviation in the neighbourhood
        (resemble's ``scale = TRUE``). A neighbourhood with a constant
        predictor is not scaled, as resemble does.
    modified : bool, default=False
        Modified PLS (Shenk and Westerhaus, 1991; resemble's ``"mpls"``): the
        weights are the correlations between the (deflated) predictors and
        the response rather than their covariances.
    residuals : bool, default=True
        Compute ``x_residual_rms`` (None otherwise: it costs a pass over the
        queries per component).

    Returns
    -------
    y_hat : ndarray of shape (m, q, n_components)
        Predictions with 1, 2, ... components.
    x_residual_rms : ndarray of shape (m, q, n_components)
        Root mean square of each query's (scaled) spectral residual after
        projection on 1, 2, ... components.
    coef_rms : ndarray of shape (m, n_components)
        Root mean square of the (scaled) regression vector of each model.
    """
    m, k, p = X.shape
    if mask is None:
        mask = np.ones((m, k), bool)
    w_row = mask.astype(np.float64)
    n = w_row.sum(axis=1)
    x_mean = np.einsum("mk,mkp->mp", w_row, X) / n[:, None]
    Xc = (X - x_mean[:, None, :]) * w_row[:, :, None]
    y_mean = np.einsum("mk,mk->m", w_row, y) / n
    y_res = (y - y_mean[:, None]) * w_row
    xq = Xq - x_mean[:, None, :]
    ss = np.einsum("mkp,mkp->mp", Xc, Xc)
    if scale:
        sd = np.sqrt(ss / np.maximum(n - 1, 1)[:, None])
        # A predictor that is zero on every row of the stack (padding of the
        # dissimilarity predictors) is not one of the neighbourhood's; any
        # other constant one turns scaling off, as in resemble.
        padded = ~np.any(X != 0, axis=1)
        constant = (sd <= 0) & ~padded
        sd = np.where((sd > 0) & ~constant.any(axis=1, keepdims=True), sd, 1.0)
        Xc = Xc / sd[:, None, :]
        xq = xq / sd[:, None, :]
        ss = ss / sd**2

    R = np.zeros((m, p, n_components))
    P = np.zeros((m, p, n_components))
    q = np.zeros((m, n_components))
    tt_all = np.zeros((m, n_components))
    # Row-vector products (1 x k) @ (k x p) on the contiguous stack: BLAS for
    # every neighbourhood, where a transposed view would take numpy's slow loop.
    Xc = np.ascontiguousarray(Xc)
    # A neighbourhood whose y is fully explained yields a zero weight vector:
    # its later components are left at zero instead of dividing by it.
    tiny = np.finfo(np.float64).eps * max(1.0, float(np.abs(Xc).max(initial=0.0)))
    for a in range(n_components):
        # For PLS1 the deflated cross-product X_a' y_a equals X' y_a.
        w = np.matmul(y_res[:, None, :], Xc)[:, 0, :]
        if modified:
            # Column sums of squares of the deflated X: X_a'X_a = X'X - P D P'.
            ss_a = ss - np.einsum("mpa,ma->mp", P[:, :, :a] ** 2, tt_all[:, :a])
            ok_col = ss_a > 1e-12 * ss
            w = np.where(ok_col, w / np.sqrt(np.where(ok_col, ss_a, 1.0)), 0.0)
        norm = np.linalg.norm(w, axis=1)
        ok = norm > tiny * np.sqrt(k) * np.maximum(np.abs(y_res).max(axis=1), tiny)
        w = np.where(ok[:, None], w / np.where(ok, norm, 1.0)[:, None], 0.0)
        if a:
            r = w - np.einsum("mpa,ma->mp", R[:, :, :a], np.einsum("mpa,mp->ma", P[:, :, :a], w))
        else:
            r = w
        t = np.matmul(Xc, r[:, :, None])[:, :, 0]
        tt = np.einsum("mk,mk->m", t, t)
        ok &= tt > 0
        inv_tt = np.where(ok, 1.0 / np.where(ok, tt, 1.0), 0.0)
        P[:, :, a] = np.matmul(t[:, None, :], Xc)[:, 0, :] * inv_tt[:, None]
        q[:, a] = np.einsum("mk,mk->m", y_res, t) * inv_tt
        tt_all[:, a] = np.where(ok, tt, 0.0)
        y_res = y_res - t * q[:, a : a + 1]
        R[:, :, a] = np.where(ok[:, None], r, 0.0)

    tq = np.einsum("mqp,mpa->mqa", xq, R)
    y_hat = y_mean[:, None, None] + np.cumsum(tq * q[:, None, :], axis=2)
    coef = np.cumsum(R * q[:, None, :], axis=2)
    coef_rms = np.sqrt(np.mean(coef**2, axis=1))
    if not residuals:
        return y_hat, None, coef_rms
    # Query reconstruction after a components: sum_{b<=a} tq_b p_b.
    resid = np.empty_like(tq)
    x_hat = np.zeros_like(xq)
    for a in range(n_components):
        x_hat = x_hat + tq[:, :, a : a + 1] * P[:, None, :, a]
        resid[:, :, a] = np.sqrt(np.mean((xq - x_hat) ** 2, axis=2))
    return y_hat, resid, coef_rms


def wapls_weights(x_residual_rms, coef_rms):
    """Weights of the weighted-average PLS (LOCAL, Shenk et al. 1997).

    As resemble's ``get_local_pls_weights``: the model with ``j`` components
    gets ``w_j = 1 / (s_j * g_j)``, where ``s_j`` is the RMS of the query's
    spectral residual and ``g_j`` the RMS of the regression coefficients,
    normalised to sum to one over the components used.

    Parameters
    ----------
    x_residual_rms, coef_rms : ndarray of shape (..., n_models)

    Returns
    -------
    weights : ndarray of the same shape, summing to one along the last axis
    """
    product = x_residual_rms * coef_rms
    # A query lying exactly in the span of its neighbours has a zero residual:
    # bound the weight ratio instead of dividing by zero.
    floor = 1e-12 * np.max(product, axis=-1, keepdims=True) + np.finfo(np.float64).tiny
    product = np.maximum(product, floor)
    # Dividing the smallest product by each gives the normalised weights of
    # 1 / product without overflow (all in (0, 1]).
    weights = np.min(product, axis=-1, keepdims=True) / product
    return weights / weights.sum(axis=-1, keepdims=True)


def local_predict(X, y, Xq, components, *, model="wapls", mask=None, scale=False,
                  modified=False, clip=False):
    """Predictions of each neighbourhood's PLS or WA-PLS for its queries.

    ``components`` is ``(min, max)``; for ``model="pls"`` the ``max``-component
    model is used. ``clip`` bounds each prediction by the range of the
    neighbourhood's responses (resemble's ``range_prediction_limits``).

    Returns an ndarray of shape (m, q).
    """
    lo, hi = components
    y_hat, resid, coef_rms = local_pls(X, y, Xq, hi, mask=mask, scale=scale, modified=modified)
    if model == "pls" or lo == hi:
        pred = y_hat[:, :, hi - 1]
    else:
        w = wapls_weights(resid[:, :, lo - 1 : hi], coef_rms[:, None, lo - 1 : hi])
        pred = np.einsum("mqa,mqa->mq", w, y_hat[:, :, lo - 1 : hi])
    if clip:
        big = np.where(mask, y, -np.inf) if mask is not None else y
        small = np.where(mask, y, np.inf) if mask is not None else y
        pred = np.clip(pred, small.min(axis=1)[:, None], big.max(axis=1)[:, None])
    return pred
