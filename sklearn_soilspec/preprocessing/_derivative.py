"""Smoothing, derivatives and baseline removal along the wavelength axis."""

from numbers import Integral, Real

import numpy as np
from scipy.ndimage import convolve1d
from scipy.signal import savgol_coeffs, savgol_filter
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import SpectralTransformer, regular_step

__all__ = ["SavitzkyGolay", "Detrend"]


def _savgol_interp(X, window_length, polyorder, deriv, delta):
    """``savgol_filter(X, ..., axis=1, mode="interp")`` with the edges as one product.

    scipy fits a polynomial to the first and last windows of every row
    (``polyfit`` on a transposed copy), which costs ten times the
    convolution on a 20,000-spectrum library. That fit is linear in the
    window, so its effect is a fixed ``window x half-window`` matrix: the
    response of the same scipy fit to each unit vector, applied to all rows
    in one matrix product (in float64). The interior is scipy's own
    convolution.
    """
    half = window_length // 2
    out = convolve1d(X, savgol_coeffs(window_length, polyorder, deriv=deriv, delta=delta),
                     axis=1, mode="constant")
    if half:
        # Row j: what the edge fit makes of a window that is 1 at point j.
        edges = savgol_filter(np.eye(window_length), window_length, polyorder, deriv=deriv,
                              delta=delta, axis=1, mode="interp")
        out[:, :half] = X[:, :window_length].astype(np.float64) @ edges[:, :half]
        out[:, -half:] = X[:, -window_length:].astype(np.float64) @ edges[:, -half:]
    return out


class SavitzkyGolay(SpectralTransformer):
    """Savitzky-Golay smoothing or derivative of each spectrum.

    :func:`scipy.signal.savgol_filter` along the wavelength axis, for all
    rows at once. Stateless. With ``mode="interp"`` the end windows' fits
    are applied as one precomputed matrix product in float64 (scipy fits
    every row's ends separately, ten times the cost of the convolution):
    the same result to 1e-14 for float64 spectra, and for float32 ones
    closer to the float64 result than scipy's own float32 fit.

    Parameters
    ----------
    window_length : int, default=11
        Number of points in the moving window; odd.
    polyorder : int, default=2
        Order of the local polynomial; smaller than ``window_length``.
    deriv : int, default=0
        Order of the derivative; at most ``polyorder``.
    delta : float or None, default=None
        Spacing of the points, so that derivatives are per nm (or per
        cm-1). ``None`` takes the step of the axis when one is known and
        evenly spaced, and 1 (per point) when there is no axis. An uneven
        axis with ``deriv > 0`` is an error: resample it first with
        :class:`WavelengthResampler` or set ``delta`` explicitly.
    mode : {"interp", "mirror", "constant", "nearest", "wrap"}, default="interp"
        How the ends are handled; ``"interp"`` fits the polynomial to the
        first and last windows.
    wavelengths : array-like, "index" or None, default=None
        Axis of the input when ``X`` carries no wavelength column names.

    Attributes
    ----------
    delta_ : float
        Spacing used for the derivative (signed: negative on a descending
        wavenumber axis, so derivatives are per increasing wavenumber).
    wavelengths_ : ndarray of shape (n_features_in_,) or None
        Axis read in ``fit``, if any.
    n_features_in_ : int
        Number of wavelengths.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a DataFrame seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_soilspec.preprocessing import SavitzkyGolay
    >>> wl = np.arange(400.0, 430.0, 2.0)  # 15 points, 2 nm apart
    >>> X = (3.0 * wl)[None, :]
    >>> sg = SavitzkyGolay(window_length=5, deriv=1, wavelengths=wl)
    >>> np.allclose(sg.fit_transform(X), 3.0)  # slope per nm
    True
    """

    _parameter_constraints = {
        **SpectralTransformer._parameter_constraints,
        "window_length": [Interval(Integral, 1, None, closed="left")],
        "polyorder": [Interval(Integral, 0, None, closed="left")],
        "deriv": [Interval(Integral, 0, None, closed="left")],
        "delta": [None, Interval(Real, 0, None, closed="neither")],
        "mode": [StrOptions({"interp", "mirror", "constant", "nearest", "wrap"})],
    }

    def __init__(
        self, window_length=11, polyorder=2, deriv=0, delta=None, mode="interp", wavelengths=None
    ):
        self.window_length = window_length
        self.polyorder = polyorder
        self.deriv = deriv
        self.delta = delta
        self.mode = mode
        self.wavelengths = wavelengths

    def _fit(self, X):
        w, n = self.window_length, X.shape[1]
        if w % 2 == 0:
            raise ValueError(f"window_length={w} must be odd (the window is centred).")
        if self.polyorder >= w:
            raise ValueError(
                f"polyorder={self.polyorder} must be smaller than window_length={w}."
            )
        if self.deriv > self.polyorder:
            raise ValueError(
                f"deriv={self.deriv} is larger than polyorder={self.polyorder}: the "
                "derivative of the local polynomial would be zero."
            )
        if self.mode == "interp" and w > n:
            raise ValueError(
                f"window_length={w} is longer than the spectrum ({n} feature(s)); choose a "
                "smaller window_length."
            )
        if self.delta is not None:
            self.delta_ = float(self.delta)
        elif self.wavelengths_ is None:
            self.delta_ = 1.0
        else:
            step = regular_step(self.wavelengths_)
            if step is None and n > 1 and self.deriv > 0:
                raise ValueError(
                    "The wavelength axis is unevenly spaced, so a derivative per nm is not "
                    "defined by one step: resample first with WavelengthResampler() (its "
                    "default target is an even grid) or set delta explicitly."
                )
            self.delta_ = 1.0 if step is None else step

    def _transform(self, X):
        if self.mode == "interp":
            out = _savgol_interp(
                X, self.window_length, self.polyorder, self.deriv, abs(self.delta_)
            )
        else:
            out = savgol_filter(
                X,
                self.window_length,
                self.polyorder,
                deriv=self.deriv,
                delta=abs(self.delta_),
                axis=1,
                mode=self.mode,
            )
        if self.delta_ < 0 and self.deriv % 2 == 1:
            np.negative(out, out=out)
        return out.astype(X.dtype, copy=False)


class Detrend(SpectralTransformer):
    """Remove a polynomial baseline from each spectrum.

    A polynomial of degree ``order`` in wavelength is fitted to every
    spectrum by least squares and subtracted. All rows share one design
    matrix, so the fit is a single matrix product. Often used after
    :class:`SNV` (Barnes, Dhanoa & Lister 1989, order 2). Stateless.

    Parameters
    ----------
    order : int, default=2
        Degree of the baseline polynomial (0: offset, 1: linear).
    wavelengths : array-like, "index" or None, default=None
        Axis of the input when ``X`` carries no wavelength column names;
        without one the column positions are used, which is the same for
        evenly spaced grids.

    Attributes
    ----------
    wavelengths_ : ndarray of shape (n_features_in_,) or None
        Axis read in ``fit``, if any.
    n_features_in_ : int
        Number of wavelengths.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a DataFrame seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_soilspec.preprocessing import Detrend
    >>> x = np.linspace(0.0, 1.0, 5)
    >>> X = np.vstack([1 + 2 * x, 1 + 2 * x + np.array([0, 0, 1, 0, 0])])
    >>> Detrend(order=1).fit_transform(X).round(2)
    array([[ 0. ,  0. ,  0. ,  0. ,  0. ],
           [-0.2, -0.2,  0.8, -0.2, -0.2]])
    """

    _parameter_constraints = {
        **SpectralTransformer._parameter_constraints,
        "order": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, order=2, wavelengths=None):
        self.order = order
        self.wavelengths = wavelengths

    def _fit(self, X):
        n = X.shape[1]
        if n <= self.order + 1:
            raise ValueError(
                f"Detrend(order={self.order}) needs more than {self.order + 1} wavelengths "
                f"to leave anything after the baseline; X has {n} feature(s)."
            )
        x = self.wavelengths_ if self.wavelengths_ is not None else np.arange(n, dtype=float)
        # Scaling x to [-1, 1] keeps the Vandermonde matrix well conditioned at
        # wavelengths in the thousands.
        span = x.max() - x.min()
        x = 2.0 * (x - x.min()) / (span if span > 0 else 1.0) - 1.0
        self._design = np.vander(x, self.order + 1)
        self._projector = np.linalg.pinv(self._design)

    def _transform(self, X):
        coef = X @ self._projector.T.astype(X.dtype)
        return X - coef @ self._design.T.astype(X.dtype)
