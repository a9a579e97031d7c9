"""Many small PLS1 models at once: one per query, on that query's neighbours.

Fitting a separate ``PLSRegression`` per query costs milliseconds of Python
overhead each; here all neighbourhoods of a batch are stacked into one
``(m, k, p)`` array and every NIPALS step is a batched matrix product.
"""

import numpy as np

__all__ = ["batched_pls1", "wapls_weights"]


def batched_pls1(X, y, Xq, n_components):
    """NIPALS PLS1 on ``m`` neighbourhoods, predicting one query each.

    Equal (up to rounding) to ``PLSRegression(n_components=a, scale=False)``
    fitted on ``X[i], y[i]`` and applied to ``Xq[i]``, for every ``a``.

    X is never deflated: for PLS1 the deflated cross-product equals
    ``X' y_a`` and the scores are ``X r_a`` with the rotations ``r_a``, so each
    component costs three passes over ``X`` and no copy of it.

    Parameters
    ----------
    X : ndarray of shape (m, k, p)
        Neighbour spectra of each query.
    y : ndarray of shape (m, k)
        Their property values.
    Xq : ndarray of shape (m, p)
        The queries.
    n_components : int
        Components fitted; must not exceed ``min(k - 1, p)``.

    Returns
    -------
    y_hat : ndarray of shape (m, n_components)
        Prediction of each query with 1, 2, ... components.
    x_residual_rms : ndarray of shape (m, n_components)
        Root mean square of the query's spectral residual after projection
        on 1, 2, ... components.
    coef_rms : ndarray of shape (m, n_components)
        Root mean square of the regression vector of the 1, 2, ... component
        model.
    """
    m, k, p = X.shape
    x_mean = X.mean(axis=1)
    Xc = X - x_mean[:, None, :]
    y_mean = y.mean(axis=1)
    y_res = y - y_mean[:, None]
    xq = Xq - x_mean

    R = np.zeros((m, p, n_components))
    P = np.zeros((m, p, n_components))
    q = np.zeros((m, n_components))
    tq = np.zeros((m, n_components))
    XcT = Xc.transpose(0, 2, 1)
    # A neighbourhood whose y is fully explained yields a zero weight vector:
    # its later components are left at zero instead of dividing by it.
    tiny = np.finfo(np.float64).eps * max(1.0, float(np.abs(Xc).max(initial=0.0)))
    for a in range(n_components):
        w = np.matmul(XcT, y_res[:, :, None])[:, :, 0]
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
        P[:, :, a] = np.matmul(XcT, t[:, :, None])[:, :, 0] * inv_tt[:, None]
        q[:, a] = np.einsum("mk,mk->m", y_res, t) * inv_tt
        y_res = y_res - t * q[:, a : a + 1]
        R[:, :, a] = np.where(ok[:, None], r, 0.0)
        tq[:, a] = np.einsum("mp,mp->m", xq, R[:, :, a])

    y_hat = y_mean[:, None] + np.cumsum(tq * q, axis=1)
    # Query reconstruction x_hat_a = sum_{b<=a} tq_b p_b, residual after each a.
    recon = np.cumsum(P * tq[:, None, :], axis=2)
    x_residual_rms = np.sqrt(np.mean((xq[:, :, None] - recon) ** 2, axis=1))
    coef = np.cumsum(R * q[:, None, :], axis=2)
    coef_rms = np.sqrt(np.mean(coef**2, axis=1))
    return y_hat, x_residual_rms, coef_rms


def wapls_weights(x_residual_rms, coef_rms):
    """Weights of the weighted-average PLS (LOCAL, Shenk et al. 1997).

    As in resemble's ``local_fit_wapls``: the model with ``j`` components gets
    ``w_j = 1 / (s_j * g_j)``, where ``s_j`` is the RMS of the query's
    spectral residual and ``g_j`` the RMS of the regression coefficients,
    normalised to sum to one over the components used. Models that explain
    the query's spectrum well with a small coefficient vector count most.

    Parameters
    ----------
    x_residual_rms, coef_rms : ndarray of shape (m, n_models)

    Returns
    -------
    weights : ndarray of shape (m, n_models), rows summing to one
    """
    product = x_residual_rms * coef_rms
    # A query lying exactly in the span of its neighbours has a zero residual:
    # bound the weight ratio instead of dividing by zero.
    floor = 1e-12 * np.max(product, axis=1, keepdims=True) + np.finfo(np.float64).tiny
    product = np.maximum(product, floor)
    # 1 / product overflows when products are near zero (a neighbourhood of
    # constant property values has zero coefficients): dividing the row's
    # smallest product by each gives the same normalised weights, all in (0, 1].
    weights = np.min(product, axis=1, keepdims=True) / product
    return weights / weights.sum(axis=1, keepdims=True)
