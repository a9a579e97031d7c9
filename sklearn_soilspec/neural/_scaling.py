"""Which mean and SD the network sees: the one standardisation policy.

``SpectralCNNRegressor(standardize=...)`` decides it for a model trained from
scratch:

``"pooled"``
    Inputs and targets centred and scaled with statistics of all training
    rows (targets NaN-aware).
``"per_domain"``
    With domains (``groups``), every domain is centred and scaled on its own
    and mapped onto the pooled mean and SD, so the network learns relations
    within domains rather than offsets between sites, instruments or labs.
    With one domain, or none, this is ``"pooled"``.
``"none"``
    Inputs as given; targets still standardised (the loss needs comparable
    scales across properties).

A warm-started model does not choose: its source decides (see
:func:`sklearn_soilspec.transfer.plan_warm_start`), because the copied
filters and heads were learnt on inputs and targets scaled the source's way.
"""

import warnings

import numpy as np

__all__ = [
    "STANDARDIZE_OPTIONS",
    "fit_x_scaler",
    "nan_scaler",
    "shrunk_target_scaler",
    "standardize_per_domain",
]

STANDARDIZE_OPTIONS = ("pooled", "per_domain", "none")


def nan_scaler(Y):
    """NaN-aware per-column mean and SD (SD 1 where a column is constant)."""
    mean = np.nanmean(Y, axis=0)
    scale = np.nanstd(Y, axis=0)
    return mean, np.where(scale > 0, scale, 1.0)


def fit_x_scaler(X, policy):
    """Input mean and SD, or ``(None, None)`` for ``policy="none"``."""
    if policy == "none":
        return None, None
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    return mean, np.where(scale > 0, scale, 1.0)


def shrunk_target_scaler(Y, prior_mean, prior_scale, prior_rows=5):
    """Local target mean and SD, shrunk toward a prior where few rows were measured.

    A property measured on a handful of local rows has a poorly known SD; a
    network whose outputs are multiplied by it can then miss by orders of
    magnitude (a per-domain standardised transfer once returned RMSE 28.7
    where its source had 3.5, on the property with the most gaps). The
    variance is pooled with ``prior_rows`` pseudo-rows of the prior's
    variance, and with fewer than two rows the prior mean is used:

    ``s^2 = ((n - 1) s_local^2 + k s_prior^2) / (n - 1 + k)``

    Parameters
    ----------
    Y : ndarray of shape (n_samples, n_targets), NaN where not measured
    prior_mean, prior_scale : ndarray of shape (n_targets,)
    prior_rows : float, default=5

    Returns
    -------
    mean, scale : ndarray of shape (n_targets,)
    """
    n = (~np.isnan(Y)).sum(axis=0)
    prior_mean = np.asarray(prior_mean, dtype=np.float64)
    prior_scale = np.asarray(prior_scale, dtype=np.float64)
    with warnings.catch_warnings():
        # nanmean of an all-NaN column warns; that value is replaced here.
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.where(n >= 2, np.nanmean(Y, axis=0), prior_mean)
        var = np.where(n >= 2, np.nanvar(Y, axis=0, ddof=1), 0.0)
    dof = np.maximum(n - 1, 0)
    pooled = (dof * np.nan_to_num(var) + prior_rows * prior_scale**2) / (dof + prior_rows)
    scale = np.sqrt(pooled)
    return mean, np.where(scale > 0, scale, 1.0)


def standardize_per_domain(X, Y, domains, x_mean, x_scale, y_mean, y_scale):
    """Map each domain onto the pooled mean/SD: within-domain z-scores, pooled units.

    The network then sees no difference in level or spread between domains;
    what is left is the relation between spectra and properties inside a
    domain, which is what a new domain shares with the library.
    """
    domains = np.asarray(domains).ravel().astype(str)
    if domains.shape[0] != X.shape[0]:
        raise ValueError(f"groups has {domains.shape[0]} labels for {X.shape[0]} samples.")
    X, Y = X.astype(np.float64, copy=True), Y.copy()
    xm = 0.0 if x_mean is None else x_mean
    xs = 1.0 if x_scale is None else x_scale
    for d in np.unique(domains):
        rows = domains == d
        if rows.sum() < 2:
            continue  # one spectrum has no spread to remove
        dm, ds = X[rows].mean(axis=0), X[rows].std(axis=0)
        X[rows] = (X[rows] - dm) / np.where(ds > 0, ds, 1.0) * xs + xm
        block = Y[rows]
        counts = (~np.isnan(block)).sum(axis=0)
        ok = counts >= 2
        tm = np.nanmean(block[:, ok], axis=0)
        ts = np.nanstd(block[:, ok], axis=0)
        ts = np.where(ts > 0, ts, 1.0)
        block[:, ok] = (block[:, ok] - tm) / ts * y_scale[ok] + y_mean[ok]
        Y[rows] = block
    return X, Y
