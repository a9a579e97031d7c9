"""Many small PLS1 models at once: one per query, on that query's neighbours.

Fitting a separate ``PLSRegression`` per query costs milliseconds of Python
overhead each; here all neighbourhoods of a batch are stacked into one
``(m, k, p)`` array and every NIPALS step is a batched matrix product. The
general version (masks, scaling, modified PLS) is
:func:`~sklearn_soilspec.baselines._local_fit.local_pls`.
"""

from ._local_fit import local_pls, wapls_weights

__all__ = ["batched_pls1", "wapls_weights"]


def batched_pls1(X, y, Xq, n_components):
    """NIPALS PLS1 on ``m`` neighbourhoods, predicting one query each.

    Equal (up to rounding) to ``PLSRegression(n_components=a, scale=False)``
    fitted on ``X[i], y[i]`` and applied to ``Xq[i]``, for every ``a``.

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
    y_hat, resid, coef_rms = local_pls(X, y, Xq[:, None, :], n_components)
    return y_hat[:, 0], resid[:, 0], coef_rms
