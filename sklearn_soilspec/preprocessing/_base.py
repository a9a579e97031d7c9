"""The shared mechanics of every spectral transformer.

One place reads the spectral axis in ``fit``, keeps it, validates input and
names the output columns, so the transformers only say what they compute.
"""

import re

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, validate_data

from ._axis import format_wavelengths, resolve_wavelengths

# The last number in a column name is its wavelength (see ``parse_wavelengths``);
# what surrounds it is the naming style new columns should copy.
_LAST_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?!.*\d)")

# Axis spacings that differ by less than this fraction count as one step:
# wavenumbers stored in column names are rounded (e.g. 1.9285 cm-1 -> 1.9 / 2.0).
_REGULAR_RTOL = 0.1


def regular_step(wavelengths):
    """The constant step of an axis, or None if the spacing is uneven."""
    if wavelengths is None or len(wavelengths) < 2:
        return None
    d = np.diff(wavelengths)
    step = float(np.median(d))
    if step != 0 and np.all(np.abs(d - step) <= _REGULAR_RTOL * abs(step)):
        return step
    return None


def check_reflectance(X, purpose):
    """Raise a clear error if any reflectance is <= 0 (or NaN)."""
    bad = ~(X > 0)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        # "Negative values in data" is the phrase scikit-learn uses for this.
        what = "Negative values in data" if X.min() < 0 else "Zero reflectance"
        raise ValueError(
            f"{what}: reflectance must be positive {purpose}, found values <= 0 "
            f"(min {X.min():g}) in {rows.size} spectra, first at row {rows[0]}. "
            "Check the units (already absorbance?) or remove the bad spectra."
        )


def _name_style(name):
    """Split a column name such as ``scan_visnir.450_ref`` into prefix and suffix."""
    m = _LAST_NUMBER.search(str(name))
    if m is None:
        return None
    return str(name)[: m.start()], str(name)[m.end() :]


class SpectralTransformer(TransformerMixin, BaseEstimator):
    """Base class: axis handling, validation and output names.

    Subclasses set ``_axis_required`` (the transform means nothing without
    real wavelengths), ``_changes_axis`` (output columns are a new axis) and
    implement ``_fit(X)`` (optional, checks and learned state) and
    ``_transform(X)``. ``wavelengths="index"`` is accepted everywhere: the
    column positions 0, 1, ... are then the axis, an explicit choice for
    arrays that carry no wavelengths.
    """

    _parameter_constraints: dict = {
        "wavelengths": [None, "array-like", StrOptions({"index"})],
    }
    _axis_required = False
    _changes_axis = False
    _min_features = 1

    def _resolve_axis(self, n_features):
        if isinstance(self.wavelengths, str):  # "index", checked by the constraints
            return np.arange(n_features, dtype=np.float64)
        names = getattr(self, "feature_names_in_", None)
        if self._axis_required and self.wavelengths is None and names is None:
            raise ValueError(
                f"{type(self).__name__} needs the spectral axis: pass a DataFrame whose "
                "columns are named by wavelength (e.g. 'wl_450'), set `wavelengths=` to "
                "one value per column, or `wavelengths='index'` to use column positions. "
                "Inside a Pipeline, call `.set_output(transform='pandas')` on it so that "
                "the column names reach this step."
            )
        return resolve_wavelengths(
            self.wavelengths, names, n_features, required=self._axis_required
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Read the spectral axis of ``X`` and learn what the transform needs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_wavelengths)
            Spectra, one per row; a DataFrame's column names give the axis.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        X = validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            ensure_all_finite=True,
            ensure_min_features=self._min_features,
        )
        self.wavelengths_ = self._resolve_axis(X.shape[1])
        self._fit(X)
        return self

    def _fit(self, X):
        """Checks and learned state beyond the axis; stateless by default."""

    def transform(self, X):
        """Transform the spectra.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_wavelengths)
            Spectra on the axis seen in ``fit``.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features_out)
            float32 when ``X`` is float32, float64 otherwise.
        """
        check_is_fitted(self)
        X = validate_data(
            self, X, dtype=[np.float64, np.float32], ensure_all_finite=True, reset=False
        )
        return self._transform(X)

    def _axis_out(self):
        """The output axis of axis-changing transformers."""
        raise NotImplementedError

    def get_feature_names_out(self, input_features=None):
        """Output column names.

        Unchanged input names when the axis is unchanged; otherwise the new
        wavelengths written in the input's naming style (``wl_450`` in,
        ``wl_452`` out).

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input names; must match ``feature_names_in_`` if that is set.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self)
        names = _check_feature_names_in(self, input_features)
        if not self._changes_axis:
            return np.asarray(names, dtype=object)
        has_names = input_features is not None or hasattr(self, "feature_names_in_")
        style = _name_style(names[0]) if has_names and len(names) else None
        axis = self._axis_out()
        if style is not None:
            prefix, suffix = style
            return np.asarray([n + suffix for n in format_wavelengths(axis, prefix)], dtype=object)
        if self.wavelengths_ is not None:
            return format_wavelengths(axis)
        stem = type(self).__name__.lower()
        return np.asarray([f"{stem}{i}" for i in range(len(axis))], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
