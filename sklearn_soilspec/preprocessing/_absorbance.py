"""Reflectance <-> apparent absorbance, log10(1/R)."""

import numpy as np
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_array, check_is_fitted

from ._base import SpectralTransformer, check_reflectance

__all__ = ["Absorbance"]

# Reflectance as a fraction rarely exceeds 1 (a few % above with a worn white
# reference); stored in percent, a whole library never stays below this.
_PERCENT_THRESHOLD = 1.5


class Absorbance(SpectralTransformer):
    """Convert reflectance R to apparent absorbance A = log10(1/R), or back.

    Parameters
    ----------
    inverse : bool, default=False
        If True the transformer goes the other way: absorbance in,
        reflectance ``10**-A`` out (in percent if ``percent=True``).
    percent : "auto" or bool, default="auto"
        Whether reflectance is in percent (0-100, as LimeSoDa stores it)
        rather than a fraction (0-1). ``"auto"`` decides once, in ``fit``:
        percent if any value of the fitted reflectance exceeds 1.5. The
        decision is kept, so local data are converted exactly as the global
        library was. With ``inverse=True``, ``"auto"`` means a fraction.
    wavelengths : array-like, "index" or None, default=None
        Not needed; accepted so that the axis travels with the data.

    Attributes
    ----------
    percent_ : bool
        Whether reflectance is taken (or given back) in percent.
    wavelengths_ : ndarray of shape (n_features_in_,) or None
        Axis read in ``fit``.
    n_features_in_ : int
        Number of wavelengths.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a DataFrame seen in ``fit``.

    See Also
    --------
    ContinuumRemoval : Band depths relative to the upper convex hull.

    Notes
    -----
    Reflectance <= 0 has no absorbance and is an error, never clipped:
    it almost always means the data are already absorbance, or a bad scan.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_soilspec.preprocessing import Absorbance
    >>> R = np.array([[10.0, 100.0], [1.0, 50.0]])  # percent reflectance
    >>> ab = Absorbance().fit(R)
    >>> ab.percent_
    True
    >>> A = ab.transform(R)
    >>> A.round(3)
    array([[1.   , 0.   ],
           [2.   , 0.301]])
    >>> ab.inverse_transform(A).round(6)
    array([[ 10., 100.],
           [  1.,  50.]])
    """

    _parameter_constraints = {
        **SpectralTransformer._parameter_constraints,
        "inverse": ["boolean"],
        "percent": [StrOptions({"auto"}), "boolean"],
    }

    def __init__(self, inverse=False, percent="auto", wavelengths=None):
        self.inverse = inverse
        self.percent = percent
        self.wavelengths = wavelengths

    def _fit(self, X):
        if not self.inverse:
            check_reflectance(X, "to take log10(1/R)")
        if self.percent != "auto":
            self.percent_ = bool(self.percent)
        else:
            self.percent_ = not self.inverse and bool(X.max() > _PERCENT_THRESHOLD)

    def _to_absorbance(self, R):
        check_reflectance(R, "to take log10(1/R)")
        A = np.log10(R)
        np.negative(A, out=A)
        if self.percent_:
            A += A.dtype.type(2.0)  # log10(100 / R%) = 2 - log10(R%)
        return A

    def _to_reflectance(self, A):
        R = np.power(A.dtype.type(10.0), -A)
        if self.percent_:
            R *= R.dtype.type(100.0)
        return R

    def _transform(self, X):
        return self._to_reflectance(X) if self.inverse else self._to_absorbance(X)

    def inverse_transform(self, X):
        """Undo :meth:`transform` (absorbance back to reflectance, or the reverse).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_wavelengths)
            Output of :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_wavelengths)
        """
        check_is_fitted(self)
        # Like scikit-learn's scalers: transform's output has no column names, so
        # only the column count is checked here.
        X = check_array(X, dtype=[np.float64, np.float32], ensure_all_finite=True)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but Absorbance is expecting "
                f"{self.n_features_in_} features as input."
            )
        return self._to_absorbance(X) if self.inverse else self._to_reflectance(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Stateless apart from the percent decision: fit only validates and
        # records the axis and the unit of the reflectance.
        tags.input_tags.positive_only = not self.inverse
        return tags
