"""Scatter corrections: standard normal variate and multiplicative scatter correction."""

import numpy as np
from sklearn.utils._param_validation import StrOptions

from ._base import SpectralTransformer

__all__ = ["SNV", "MSC"]


def _flat_rows_error(rows, what):
    return ValueError(
        f"{rows.size} spectra are flat ({what}), first at row {rows[0]}: "
        "scatter correction would divide by zero. Remove them or check the data."
    )


class SNV(SpectralTransformer):
    """Standard normal variate: centre and scale each spectrum by its own mean and std.

    Each row becomes ``(x - mean(x)) / std(x)`` (Barnes, Dhanoa & Lister
    1989, Applied Spectroscopy 43, 772-777). Stateless: every spectrum is
    corrected on its own, so a pipeline fitted on a global library treats
    local spectra exactly as it treated the global ones.

    Parameters
    ----------
    wavelengths : array-like, "index" or None, default=None
        Not needed; accepted so that the axis travels with the data.

    Attributes
    ----------
    wavelengths_ : ndarray of shape (n_features_in_,) or None
        Axis read in ``fit``, if any.
    n_features_in_ : int
        Number of wavelengths.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a DataFrame seen in ``fit``.

    See Also
    --------
    MSC : Scatter correction against a reference spectrum.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_soilspec.preprocessing import SNV
    >>> SNV().fit_transform(np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]])).round(4)
    array([[-1.2247,  0.    ,  1.2247],
           [-1.2247,  0.    ,  1.2247]])
    """

    # A single point has no spread to scale by.
    _min_features = 2

    def __init__(self, wavelengths=None):
        self.wavelengths = wavelengths

    def _transform(self, X):
        out = X - X.mean(axis=1, keepdims=True)
        # einsum accumulates in float64 without a full-size out * out temporary.
        ssq = np.einsum("ij,ij->i", out, out, dtype=np.float64)[:, None]
        std = np.sqrt(ssq / out.shape[1]).astype(out.dtype)
        flat = std[:, 0] <= np.finfo(X.dtype).tiny
        if flat.any():
            raise _flat_rows_error(np.flatnonzero(flat), "standard deviation 0")
        out /= std
        return out


class MSC(SpectralTransformer):
    """Multiplicative scatter correction against a reference spectrum.

    Each spectrum ``x`` is regressed on the reference, ``x = a + b * ref``,
    and replaced by ``(x - a) / b`` (Geladi, MacDougall & Martens 1985,
    Applied Spectroscopy 39, 491-500). The reference is learned in ``fit``,
    so a pipeline fitted on a global library corrects local spectra towards
    the global reference.

    Parameters
    ----------
    reference : {"mean", "median"} or array-like of shape (n_wavelengths,), default="mean"
        The mean or median spectrum of the fitted data, or a given spectrum.
    wavelengths : array-like, "index" or None, default=None
        Not needed; accepted so that the axis travels with the data.

    Attributes
    ----------
    reference_ : ndarray of shape (n_features_in_,)
        The reference spectrum.
    wavelengths_ : ndarray of shape (n_features_in_,) or None
        Axis read in ``fit``, if any.
    n_features_in_ : int
        Number of wavelengths.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a DataFrame seen in ``fit``.

    See Also
    --------
    SNV : Scatter correction of each spectrum on its own.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_soilspec.preprocessing import MSC
    >>> X = np.array([[1.0, 2.0, 4.0], [3.0, 5.0, 9.0]])
    >>> MSC(reference=[1.0, 2.0, 4.0]).fit_transform(X)
    array([[1., 2., 4.],
           [1., 2., 4.]])
    """

    _parameter_constraints = {
        **SpectralTransformer._parameter_constraints,
        "reference": [StrOptions({"mean", "median"}), "array-like"],
    }
    _min_features = 2

    def __init__(self, reference="mean", wavelengths=None):
        self.reference = reference
        self.wavelengths = wavelengths

    def _fit(self, X):
        if isinstance(self.reference, str):
            stat = np.mean if self.reference == "mean" else np.median
            ref = stat(X.astype(np.float64, copy=False), axis=0)
        else:
            ref = np.asarray(self.reference, dtype=np.float64).ravel()
            if ref.shape[0] != X.shape[1]:
                raise ValueError(
                    f"Wrong wavelength count: the reference spectrum has {ref.shape[0]} "
                    f"values but X has {X.shape[1]} columns."
                )
            if not np.all(np.isfinite(ref)):
                raise ValueError("The reference spectrum contains NaN or infinity.")
        centred = ref - ref.mean()
        if not np.any(centred):
            raise ValueError("The reference spectrum is flat: MSC needs a spectrum with shape.")
        self.reference_ = np.asarray(ref, dtype=np.float64)

    def _transform(self, X):
        ref = self.reference_.astype(X.dtype)
        ref_c = ref - ref.mean()
        out = X - X.mean(axis=1, keepdims=True)
        cov = out @ ref_c
        # Uncorrelated with the reference (to rounding): b = 0 and (x - a) / b blows up.
        flat = np.abs(cov) <= (
            np.finfo(X.dtype).eps * np.linalg.norm(out, axis=1) * np.linalg.norm(ref_c)
        )
        if flat.any():
            raise _flat_rows_error(np.flatnonzero(flat), "no slope against the reference")
        slope = cov / (ref_c @ ref_c)
        # (x - a) / b with a = mean(x) - b * mean(ref), without forming a.
        out /= slope[:, None]
        out += ref.mean()
        return out
