"""Checks shared by the baselines: targets with gaps, and which rows are local."""

import numpy as np
from sklearn.utils import check_array, check_consistent_length

__all__ = ["check_targets", "local_rows"]


def check_targets(y, n_samples, estimator_name):
    """Validate ``y`` allowing NaN (not measured), never inf.

    Returns
    -------
    Y : ndarray of shape (n_samples, n_targets), float64
    single_output : bool
        Whether ``y`` was one-dimensional, so that predictions keep its shape.
    """
    if y is None:
        raise ValueError(
            f"{estimator_name} requires y to be passed, but the target y is None."
        )
    Y = check_array(
        y, ensure_2d=False, ensure_all_finite="allow-nan", dtype=np.float64, input_name="y"
    )
    if Y.ndim > 2:
        raise ValueError(f"y must be 1-D or 2-D, got an array with shape {Y.shape}.")
    single_output = Y.ndim == 1
    if single_output:
        Y = Y[:, None]
    check_consistent_length(np.empty((n_samples, 0)), Y)
    if np.isinf(Y).any():
        raise ValueError("y contains infinity; NaN marks a property that was not measured.")
    never = np.flatnonzero(np.isnan(Y).all(axis=0))
    if never.size:
        raise ValueError(
            f"Target column(s) {never.tolist()} of y hold no measured value (all NaN); "
            "drop them before fitting."
        )
    return Y, single_output


def local_rows(n_samples, groups=None, is_local=None, local_domain=None):
    """Boolean mask of the local rows, or None when nothing marks them.

    ``is_local`` wins; otherwise the rows whose group equals ``local_domain``
    (or is in it, for a list of domains) are local.
    """
    if is_local is not None:
        mask = np.asarray(is_local)
        if mask.dtype != bool or mask.shape != (n_samples,):
            raise ValueError(
                f"is_local must be a boolean array with one entry per row ({n_samples}), "
                f"got dtype {mask.dtype} and shape {mask.shape}."
            )
        return mask
    if local_domain is None:
        return None
    if groups is None:
        raise ValueError(
            f"local_domain={local_domain!r} needs the domain of every row: pass groups= to "
            "fit (inside cross_val_score: params={'groups': groups}), or is_local=."
        )
    groups = np.asarray(groups)
    if groups.shape != (n_samples,):
        raise ValueError(
            f"groups must have one entry per row ({n_samples}), got shape {groups.shape}."
        )
    domains = np.atleast_1d(np.asarray(local_domain, dtype=object))
    mask = np.isin(groups.astype(object), domains)
    if not mask.any():
        found = ", ".join(map(repr, np.unique(groups)[:10]))
        raise ValueError(
            f"local_domain={local_domain!r} matches no row of groups (found: {found})."
        )
    return mask
