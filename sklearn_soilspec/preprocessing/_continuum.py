"""Continuum removal: band depths relative to the convex hull of each spectrum."""

import numpy as np
from sklearn.utils._param_validation import StrOptions

from ._axis import check_wavelength_grid
from ._base import SpectralTransformer, check_reflectance

__all__ = ["ContinuumRemoval"]

# Each thinning pass is one numpy expression; a few of them leave the Python
# scan only the points near the hull.
_THINNING_PASSES = 8

_PURPOSE = "for continuum removal (absorbance data need measurement='absorbance')"


def _upper_hull(x, y):
    """Upper convex hull of one spectrum (x ascending), evaluated at every x.

    Andrew's monotone chain on the upper side only, with the inner test done
    by numpy on a pre-thinned point set: a point lying under the chord of its
    two neighbours is never a hull vertex, so a few vectorised passes drop
    most points before the sequential scan.
    """
    xs, ys = x, y
    for _ in range(_THINNING_PASSES):
        if xs.size <= 2:
            break
        chord = ys[:-2] + (ys[2:] - ys[:-2]) * (xs[1:-1] - xs[:-2]) / (xs[2:] - xs[:-2])
        keep = np.ones(xs.size, dtype=bool)
        keep[1:-1] = ys[1:-1] > chord
        if keep.all():
            break
        xs, ys = xs[keep], ys[keep]
    xs, ys = xs.tolist(), ys.tolist()
    hx, hy = [], []
    for px, py in zip(xs, ys):
        # Pop while the last two hull points and the new one turn left (or go straight).
        while len(hx) >= 2 and (hx[-1] - hx[-2]) * (py - hy[-2]) - (hy[-1] - hy[-2]) * (
            px - hx[-2]
        ) >= 0:
            hx.pop()
            hy.pop()
        hx.append(px)
        hy.append(py)
    return np.interp(x, hx, hy)


class ContinuumRemoval(SpectralTransformer):
    """Normalise each spectrum by its continuum, the convex hull over it.

    Absorption features become band depths independent of the overall
    brightness (Clark & Roush 1984, Journal of Geophysical Research 89,
    6329-6340). Stateless; each hull is computed on its own spectrum.

    Parameters
    ----------
    measurement : {"reflectance", "absorbance"}, default="reflectance"
        Reflectance: the continuum is the upper convex hull and the spectrum
        is divided by it (values in (0, 1], 1 on the hull). Absorbance:
        absorption features are peaks, so the continuum is the lower convex
        hull and it is subtracted (values >= 0, 0 on the hull).
    wavelengths : array-like, "index" or None, default=None
        Axis of the input when ``X`` carries no wavelength column names.
        Required: the hull depends on the spacing of the points, so an
        unevenly spaced axis given by position would bend it.
        ``"index"`` uses the column positions on purpose.

    Attributes
    ----------
    wavelengths_ : ndarray of shape (n_features_in_,)
        Axis read in ``fit``.
    n_features_in_ : int
        Number of wavelengths.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a DataFrame seen in ``fit``.

    Notes
    -----
    The hull needs one short pass per spectrum (a vectorised thinning, then
    a scan of the remaining points), so this is slower than the other
    transformers on very large libraries.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_soilspec.preprocessing import ContinuumRemoval
    >>> X = np.array([[0.5, 0.4, 0.6, 0.6]])
    >>> ContinuumRemoval(wavelengths=[400, 410, 420, 430]).fit_transform(X).round(3)
    array([[1.   , 0.727, 1.   , 1.   ]])
    """

    _parameter_constraints = {
        **SpectralTransformer._parameter_constraints,
        "measurement": [StrOptions({"reflectance", "absorbance"})],
    }
    _axis_required = True

    def __init__(self, measurement="reflectance", wavelengths=None):
        self.measurement = measurement
        self.wavelengths = wavelengths

    def _fit(self, X):
        check_wavelength_grid(self.wavelengths_, name="The input wavelengths")
        if self.measurement == "reflectance":
            check_reflectance(X, _PURPOSE)

    def _transform(self, X):
        _, order = check_wavelength_grid(self.wavelengths_)
        x = self.wavelengths_[order]
        reflectance = self.measurement == "reflectance"
        if reflectance:
            check_reflectance(X, _PURPOSE)
        # The lower hull of A is the upper hull of -A.
        Y = (1.0 if reflectance else -1.0) * X[:, order].astype(np.float64)
        hull = np.empty_like(Y)
        for i, row in enumerate(Y):
            hull[i] = _upper_hull(x, row)
        if reflectance:
            out = Y / hull
        else:
            out = hull - Y  # = A - lower hull of A
        result = np.empty(X.shape, dtype=X.dtype)
        result[:, order] = out
        return result

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = self.measurement == "reflectance"
        return tags
