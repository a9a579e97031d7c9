"""Reflectance <-> apparent absorbance, log10(1/R)."""

import warnings

import numpy as np
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_array, check_is_fitted

from ._base import SpectralTransformer, check_reflectance

__all__ = ["Absorbance"]

# Reflectance as a fraction rarely exceeds 1 (a few % above with a worn white
# reference); stored in percent, a whole library never stays below this.
_PERCENT_THRESHOLD = 1.5
# A library whose typical reflectance lies in this range is neither a
# plausible fraction (brighter than the white reference) nor ordinary percent
# (a soil darker than 3 % everywhere): the unit is guessed with a warning.
_AMBIGUOUS = (1.0, 3.0)
# Medians per spectrum are taken over at most this many evenly spaced
# wavelengths: the unit checks compare them with thresholds a factor of 100
# apart, and a full partition of 4,200 points per spectrum was most of the
# transformer's time on a LUCAS-size library.
_MEDIAN_POINTS = 256


def _row_medians(X):
    """Each spectrum's median reflectance, over evenly spaced wavelengths."""
    step = -(-X.shape[1] // _MEDIAN_POINTS)
    return np.median(X[:, ::step], axis=1)


def _unit_mismatch(X, percent):
    """Rows whose values cannot be in the unit ``percent`` says.

    A fraction spectrum whose median exceeds 1.5 would be brighter than the
    white reference over half its range: it is percent. A percent spectrum
    no value of which exceeds 1.5 % would be darker than any soil: it is a
    fraction.
    """
    if percent:
        return np.flatnonzero(X.max(axis=1) <= _PERCENT_THRESHOLD)
    return np.flatnonzero(_row_medians(X) > _PERCENT_THRESHOLD)


def _check_unit(X, percent, context):
    """Raise if some spectra are in the other unit; ``context`` says where."""
    bad = _unit_mismatch(X, percent)
    if bad.size == 0:
        return
    unit, other = ("percent", "fractions") if percent else ("fractions (0-1)", "percent")
    seen = "no value above 1.5" if percent else "median above 1.5"
    convert = "multiply them by 100" if percent else "divide them by 100"
    if context == "told":
        what = f"was told percent={bool(percent)} (reflectance in {unit})"
        fix = f"If they are {other}, pass percent={not percent} (or 'auto'); else {convert}."
    elif context == "auto":
        what = f"(percent='auto') took most fitted spectra to be in {unit}"
        fix = f"The library mixes units: {convert} to bring them to {unit}."
    else:
        what = f"was fitted on reflectance in {unit}"
        fix = (f"Convert them to the fitted unit ({convert}), or fit Absorbance on "
               f"spectra in {other}.")
    raise ValueError(
        f"Reflectance unit mismatch: Absorbance {what}, but {bad.size} of {X.shape[0]} "
        f"spectra look like {other} ({seen}), first at row {bad[0]}; their absorbance "
        f"would be off by 2. {fix}"
    )


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
        percent if the median over the spectra of each spectrum's median
        reflectance exceeds 1.5, so that a few bright spikes or spectra never
        flip a library of fractions. When that typical value lies between 1
        and 3 the guess is uncertain and a warning asks for ``percent=``. The
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

    Spectra in the other unit are an error, in ``fit`` and whenever
    reflectance is converted: in fractions, a spectrum whose median exceeds
    1.5 (it is percent); in percent, a spectrum with no value above 1.5 (it
    is a fraction). Without this, local spectra in percent given to a
    transformer fitted on fractions would get an absorbance 2 too low.

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

    Local spectra stored as fractions are not silently converted as percent:

    >>> ab.transform(R / 100)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Reflectance unit mismatch: Absorbance was fitted on reflectance in percent, ...
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
        if self.inverse:
            self.percent_ = self.percent != "auto" and bool(self.percent)
            return
        check_reflectance(X, "to take log10(1/R)")
        if self.percent != "auto":
            self.percent_ = bool(self.percent)
            _check_unit(X, self.percent_, "told")
            return
        typical = float(np.median(_row_medians(X)))
        self.percent_ = typical > _PERCENT_THRESHOLD
        if _AMBIGUOUS[0] < typical < _AMBIGUOUS[1]:
            unit = "percent" if self.percent_ else "fractions"
            warnings.warn(
                f"Absorbance(percent='auto'): the typical reflectance is {typical:.3g}, "
                "too bright for fractions (0-1) and too dark for percent (0-100); "
                f"taken as {unit}. Pass percent=True or percent=False to state the unit.",
                UserWarning,
            )
        _check_unit(X, self.percent_, "auto")

    def _to_absorbance(self, R):
        check_reflectance(R, "to take log10(1/R)")
        _check_unit(R, self.percent_, "transform")
        # ln(R) / -ln(10): numpy's natural log is vectorised and three times
        # faster than log10 on float32 spectra, within one ulp of it.
        A = np.log(R)
        A *= A.dtype.type(-1.0 / np.log(10.0))
        if self.percent_:
            A += A.dtype.type(2.0)  # log10(100 / R%) = 2 - log10(R%)
        return A

    def _to_reflectance(self, A):
        with np.errstate(over="ignore"):
            R = np.power(A.dtype.type(10.0), -A)
            if self.percent_:
                R *= R.dtype.type(100.0)
        if not np.isfinite(R).all():
            rows = np.flatnonzero(~np.isfinite(R).all(axis=1))
            raise ValueError(
                f"Absorbance {A.min():g} has no finite reflectance 10**-A in "
                f"{A.dtype}: {rows.size} spectra, first at row {rows[0]}. Soil "
                "absorbance lies between about -1 and 5: check that these are "
                "absorbance values."
            )
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
