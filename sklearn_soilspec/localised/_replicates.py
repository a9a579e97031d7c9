"""Sample ids for the cross-fit: checked, and asked for where the rows look like replicate scans."""

import warnings

import numpy as np
from sklearn.utils.validation import column_or_1d

__all__ = []


def check_groups(groups, n):
    """``groups`` as a 1-D array of ``n`` sample ids, or None."""
    if groups is None:
        return None
    groups = column_or_1d(groups, warn=False)
    if len(groups) != n:
        raise ValueError(
            f"groups has {len(groups)} entries for {n} local rows: give one sample id per row "
            "(the replicate scans of a sample share it).")
    if groups.dtype.kind == "f" and np.isnan(groups).any():
        raise ValueError("groups holds NaN: give every row a sample id.")
    return groups


def warn_if_replicates(Y, stacklevel=3):
    """Warn when many rows repeat another row's values of two or more properties.

    Replicate scans of one sample carry the sample's lab values; two
    different samples rarely agree on two measured properties to the last
    digit. Cross-fitted with their twins in the training folds, replicate
    scans make every local model look as good as a lookup table, and the
    weights and intervals follow that.
    """
    measured = ~np.isnan(Y)
    rows = measured.sum(axis=1) >= 2
    if rows.sum() < 4:
        return
    _, inverse, counts = np.unique(np.where(measured, Y, np.inf)[rows], axis=0,
                                   return_inverse=True, return_counts=True)
    repeated = int((counts[inverse.ravel()] > 1).sum())
    if repeated >= max(4, rows.sum() // 4):
        warnings.warn(
            f"{repeated} of {int(rows.sum())} local rows repeat another row's values of every "
            "measured property: if they are replicate scans of one sample, pass "
            "fit(X, y, groups=sample_ids) so that a sample's scans are held out together "
            "(else the out-of-fold errors, the weights and the intervals are optimistic).",
            UserWarning, stacklevel=stacklevel)
