"""Interpolating spectra from one wavelength grid onto another."""

import numpy as np
from scipy.interpolate import CubicSpline

from ._axis import check_wavelength_grid

__all__ = ["resample_spectra"]

# Rows are interpolated in chunks so that a 20,000 x 4,200 library never needs a
# second full-size float64 copy at once; 512 rows of float32 spectra also keep a
# chunk's gathers in cache.
_CHUNK_ROWS = 512


def resample_spectra(X, source, target, kind="linear", dtype=None, tolerance=1e-6):
    """Interpolate the rows of ``X`` from the ``source`` axis onto ``target``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_source)
        Spectra on the ``source`` axis.
    source : array-like of shape (n_source,)
        Axis of ``X``; ascending or descending (MIR wavenumbers).
    target : array-like of shape (n_target,)
        Axis to interpolate onto, in the same unit as ``source``.
    kind : {"linear", "cubic"}, default="linear"
        Piecewise linear interpolation or a natural cubic spline.
    dtype : dtype, default=None
        Output dtype; defaults to ``X``'s floating dtype.
    tolerance : float, default=1e-6
        Target points this close outside the measured range are clipped onto
        it (rounding in stored column names), further ones are an error.

    Returns
    -------
    X_new : ndarray of shape (n_samples, n_target)

    Raises
    ------
    ValueError
        If a target point lies outside the measured range: extrapolating a
        spectrum invents data, so the message says which range is covered.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_soilspec.preprocessing import resample_spectra
    >>> X = np.array([[0.0, 1.0, 2.0]])
    >>> resample_spectra(X, [400, 410, 420], [405, 415])
    array([[0.5, 1.5]])
    """
    X = np.asarray(X)
    source, order = check_wavelength_grid(source, name="source wavelengths")
    target = np.asarray(target, dtype=np.float64).ravel()
    if X.ndim != 2 or X.shape[1] != source.shape[0]:
        raise ValueError(
            f"Wrong wavelength count: X has {X.shape[-1]} columns but the source axis "
            f"has {source.shape[0]} wavelengths."
        )
    if kind not in ("linear", "cubic"):
        raise ValueError(f"kind must be 'linear' or 'cubic', got {kind!r}.")
    src = source[order]
    lo, hi = src[0], src[-1]
    outside = (target < lo - tolerance) | (target > hi + tolerance)
    if outside.any():
        bad = target[outside]
        raise ValueError(
            f"Cannot resample onto {bad.min():g}-{bad.max():g}: the spectra were measured "
            f"only from {lo:g} to {hi:g}. Choose a target grid inside the measured range "
            "(extrapolation is not done)."
        )
    target = np.clip(target, lo, hi)
    if dtype is None:
        dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
    out = np.empty((X.shape[0], target.shape[0]), dtype=dtype)
    if kind == "linear":
        # Indices and weights are shared by every row: one gather per chunk
        # instead of one np.interp call per spectrum.
        right = np.clip(np.searchsorted(src, target, side="right"), 1, src.size - 1)
        left = right - 1
        span = src[right] - src[left]
        w = np.where(span > 0, (target - src[left]) / np.where(span > 0, span, 1.0), 0.0)
        cols_l, cols_r = order[left], order[right]
        # Weights in the output dtype keep float32 spectra in float32; target
        # points that fall on a measured wavelength (a coarser grid of the same
        # instrument) need only their left column.
        w_left, w_right = (1.0 - w).astype(out.dtype), w.astype(out.dtype)
        mixed = np.flatnonzero(w_right != 0)
        # np.take gathers whole rows several times faster than fancy indexing
        # (X[:, cols]), and a masked add (ufunc `where=`) avoids the scatter of
        # chunk[:, mixed] += ...; a weight of exactly 1 (every target point a
        # measured one) needs no multiply. Each shortcut gives the same bits as
        # the general formula, which mixed dtypes keep (it defines their
        # rounding). The indices are in range by construction, and mode="clip"
        # lets np.take write into `out` without the buffer mode="raise" needs.
        unit_left = bool(np.all(w_left == 1))
        where = True if mixed.size == target.size else w_right != 0
        same_dtype = X.dtype == out.dtype
        for start in range(0, X.shape[0], _CHUNK_ROWS):
            block = X[start : start + _CHUNK_ROWS]
            chunk = out[start : start + _CHUNK_ROWS]
            if same_dtype:
                np.take(block, cols_l, axis=1, out=chunk, mode="clip")
            else:
                chunk[...] = np.take(block, cols_l, axis=1, mode="clip")
            if not unit_left:
                chunk *= w_left
            if not mixed.size:
                continue
            if same_dtype:
                right = np.take(block, cols_r, axis=1, mode="clip")
                right *= w_right
                np.add(chunk, right, out=chunk, where=where)
            else:
                chunk[:, mixed] += block[:, cols_r[mixed]] * w_right[mixed]
    else:
        for start in range(0, X.shape[0], _CHUNK_ROWS):
            block = np.asarray(X[start : start + _CHUNK_ROWS][:, order], dtype=np.float64)
            out[start : start + _CHUNK_ROWS] = CubicSpline(src, block, axis=1, bc_type="natural")(
                target
            )
    return out
