"""Sample ids for the cross-fit: checked, and asked for where rows look like replicate scans."""

import warnings

import numpy as np
from sklearn.neighbors import NearestNeighbors
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


def warn_if_replicates(X, Y, stacklevel=3, max_checked=300):
    """Warn when many rows look like replicate scans: same lab values, nearest spectra.

    Replicate scans of one sample carry the sample's lab values, and a
    scan's nearest spectrum is often one of its twins. Two different samples
    rarely agree on two measured properties, and when they do by rounding
    (integer clay, pH to a tenth, on a thousand rows) their spectra are not
    each other's nearest. Cross-fitted with their twins in the training
    folds, replicate scans make every local model look as good as a lookup
    table, and the weights and intervals follow that.
    """
    measured = ~np.isnan(Y)
    rows = np.flatnonzero(measured.sum(axis=1) >= 2)
    if rows.size < 4:
        return
    _, inverse, counts = np.unique(np.where(measured, Y, np.inf)[rows], axis=0,
                                   return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    repeated = rows[counts[inverse] > 1]
    if repeated.size < max(4, rows.size // 4):
        return
    label = np.full(len(Y), -1)
    label[rows] = inverse
    checked = np.random.default_rng(0).permutation(repeated)[:max_checked]
    # The nearest other spectrum of each checked row, after SNV (repacking a
    # cup shifts and scales a scan; the shape stays). By chance a row's
    # nearest spectrum shares its values about once in n; the nearest of a
    # real MIR triplicate scan was a twin about half the time after SNV,
    # fewer without, so one in five is the evidence asked for.
    F = np.asarray(X, dtype=np.float64)
    F = (F - F.mean(axis=1, keepdims=True)) / np.maximum(F.std(axis=1, keepdims=True), 1e-12)
    idx = NearestNeighbors(n_neighbors=2).fit(F).kneighbors(F[checked], return_distance=False)
    nn = np.where(idx[:, 0] == checked, idx[:, 1], idx[:, 0])
    if np.mean(label[nn] == label[checked]) < 0.2:
        return
    warnings.warn(
        f"{repeated.size} of {rows.size} local rows repeat another row's values of every "
        "measured property, and their nearest spectra are those rows': if they are replicate "
        "scans of one sample, pass fit(X, y, groups=sample_ids) so that a sample's scans are "
        "held out together (else the out-of-fold errors, the weights and the intervals are "
        "optimistic).", UserWarning, stacklevel=stacklevel)
