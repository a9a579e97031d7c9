"""Transformers that change the wavelength grid: resample, trim, bin."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ._axis import check_wavelength_grid
from ._base import SpectralTransformer
from ._resample import resample_spectra

__all__ = ["WavelengthResampler", "SpectralTrim", "Binning"]


def _grid_from_range(start, stop, step, name="target"):
    if not step or not np.isfinite(step) or (stop - start) * step < 0:
        raise ValueError(
            f"{name}=({start:g}, {stop:g}, {step:g}) describes no grid: the step must "
            "be non-zero and point from start towards stop."
        )
    # The small slack keeps `stop` when it lies on the grid despite rounding.
    n = int(np.floor((stop - start) / step + 1e-9)) + 1
    return start + step * np.arange(n, dtype=np.float64)


def _coarse_grid(src, step):
    """Multiples of ``step`` inside the range of ``src``, in the direction of ``step``."""
    lo, hi = min(src[0], src[-1]), max(src[0], src[-1])
    size = abs(step)
    # The slack keeps an end that lies on a multiple despite rounding.
    first, last = np.ceil(lo / size - 1e-9) * size, np.floor(hi / size + 1e-9) * size
    if last < first + size:
        raise ValueError(
            f"min_step={size:g} is too coarse for the input axis {lo:g}-{hi:g}: fewer "
            "than two multiples of it lie inside. Choose a smaller min_step."
        )
    if step > 0:
        return _grid_from_range(first, last, size)
    return _grid_from_range(last, first, -size)


# Bytes of the temporaries of one block of target points in _resample_columns.
_COLUMN_BLOCK_BYTES = 8 * 2**20


def _resample_columns(X, source, target):
    """Linear resampling of column-major spectra, the same bits as :func:`resample_spectra`.

    A DataFrame's values are usually column-major (pandas keeps the columns
    of one dtype as the rows of one block), and the row-chunked gathers of
    ``resample_spectra`` then stride through memory: ten times slower on a
    LUCAS-size library. Here each target point is built from whole input
    columns, which are contiguous, a block of points at a time, and written
    into a row-major output (what the next step and the network read fast).
    Same formula in the same dtype as ``resample_spectra``, so the same bits:
    left neighbour times its weight, plus the right one times its weight where
    that weight is not zero.
    """
    source, order = check_wavelength_grid(source)
    src = source[order]
    target = np.clip(np.asarray(target, dtype=np.float64), src[0], src[-1])
    right = np.clip(np.searchsorted(src, target, side="right"), 1, src.size - 1)
    left = right - 1
    span = src[right] - src[left]
    w = np.where(span > 0, (target - src[left]) / np.where(span > 0, span, 1.0), 0.0)
    cols_l, cols_r = order[left], order[right]
    w_left, w_right = (1.0 - w).astype(X.dtype), w.astype(X.dtype)
    unit_left = bool(np.all(w_left == 1))
    columns = X.T  # row-major view: one input column per row
    out = np.empty((X.shape[0], target.size), dtype=X.dtype)
    block = max(1, _COLUMN_BLOCK_BYTES // max(1, X.shape[0] * X.itemsize))
    for j in range(0, target.size, block):
        sl = slice(j, j + block)
        part = columns[cols_l[sl]]
        if not unit_left:
            part *= w_left[sl, None]
        mixed = np.flatnonzero(w_right[sl] != 0)
        if mixed.size:
            extra = columns[cols_r[sl][mixed]]
            extra *= w_right[sl][mixed, None]
            part[mixed] += extra
        out[:, sl] = part.T
    return out


def grid_from_target(target, name="target"):
    """The wavelength grid a user asks for: a (start, stop, step) range or the grid itself.

    A tuple of three numbers is a range with ``stop`` included when it lies on
    the grid; anything else is read as the grid. Shared by every parameter
    that takes a grid, so they agree and their errors name the parameter.

    Parameters
    ----------
    target : tuple (start, stop, step) or array-like
    name : str, default="target"
        The parameter's name, used in error messages.

    Returns
    -------
    grid : ndarray of shape (n_points,)
    """
    if isinstance(target, tuple) and len(target) == 3:
        try:
            start, stop, step = (float(v) for v in target)
        except (TypeError, ValueError):
            raise ValueError(
                f"{name}={target!r} must be three numbers (start, stop, step)."
            ) from None
        return _grid_from_range(start, stop, step, name)
    try:
        grid = np.asarray(target, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        grid = np.empty(0)
    if grid.size == 0 or not np.all(np.isfinite(grid)):
        raise ValueError(f"{name} must hold at least one finite wavelength.")
    return grid


class WavelengthResampler(SpectralTransformer):
    """Interpolate spectra from their own grid onto a target grid.

    This is what makes libraries from different instruments poolable: each
    is resampled onto one common grid. Points outside the measured range are
    an error, never extrapolated.

    Parameters
    ----------
    target : None, array-like or tuple (start, stop, step), default=None
        The grid to interpolate onto, in the unit of the input axis. A tuple
        of three numbers is a range with ``stop`` included when it lies on
        the grid; a list or array is the grid itself. ``None`` makes an
        evenly spaced grid from the first to the last input wavelength with
        the median input step, which regularises uneven axes (needed by
        :class:`SavitzkyGolay` derivatives and :class:`Spectrogram`).
    min_step : float > 0 or None, default=None
        With ``target=None``, the smallest step of that grid, in the unit of
        the axis (nm or cm-1; the grid keeps the axis's direction): the step
        is the larger of the median input step and ``min_step``. A coarser
        grid than the input's starts and ends on multiples of the step, inside
        the measured range, so libraries from instruments with different
        axes get the same grid points. Coarsening is decimation by linear (or
        cubic) interpolation, not averaging: see :class:`Binning` for that.
        None keeps the input's own step. Only for ``target=None``: a given
        ``target`` is the grid.
    kind : {"linear", "cubic"}, default="linear"
        Piecewise linear interpolation or a natural cubic spline.
    wavelengths : array-like, "index" or None, default=None
        Axis of the input when ``X`` carries no wavelength column names.
        Required (or a DataFrame with wavelength columns): without an axis a
        target in nanometres would silently select column numbers.
        ``"index"`` uses the column positions on purpose.

    Attributes
    ----------
    wavelengths_ : ndarray of shape (n_features_in_,)
        Input axis.
    target_wavelengths_ : ndarray of shape (n_features_out,)
        Output axis.
    n_features_in_ : int
        Number of input wavelengths.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a DataFrame seen in ``fit``.

    See Also
    --------
    resample_spectra : The function doing the interpolation.
    SpectralTrim : Keep a window of the existing grid.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_soilspec.preprocessing import WavelengthResampler
    >>> X = np.array([[0.0, 1.0, 2.0, 3.0]])
    >>> rs = WavelengthResampler(target=(400, 430, 15), wavelengths=[400, 410, 420, 430])
    >>> rs.fit_transform(X)
    array([[0. , 1.5, 3. ]])
    >>> rs.get_feature_names_out().tolist()
    ['400', '415', '430']

    A 0.5 nm axis kept on a 5 nm grid at most:

    >>> wl = np.arange(401.0, 430.0, 0.5)
    >>> rs = WavelengthResampler(min_step=5, wavelengths=wl).fit(np.ones((1, wl.size)))
    >>> rs.target_wavelengths_
    array([405., 410., 415., 420., 425.])
    """

    _parameter_constraints = {
        **SpectralTransformer._parameter_constraints,
        "target": [None, "array-like"],
        "min_step": [None, Interval(Real, 0, None, closed="neither")],
        "kind": [StrOptions({"linear", "cubic"})],
    }
    _axis_required = True
    _changes_axis = True
    # One point cannot be interpolated from.
    _min_features = 2

    def __init__(self, target=None, min_step=None, kind="linear", wavelengths=None):
        self.target = target
        self.min_step = min_step
        self.kind = kind
        self.wavelengths = wavelengths

    def _fit(self, X):
        src, _ = check_wavelength_grid(self.wavelengths_, name="The input wavelengths")
        if self.target is None:
            step = float(np.median(np.diff(src))) if src.size > 1 else 1.0
            if self.min_step is not None and abs(step) < self.min_step:
                target = _coarse_grid(src, np.copysign(float(self.min_step), step))
            else:
                target = _grid_from_range(src[0], src[-1], step)
        elif self.min_step is not None:
            raise ValueError(
                f"min_step={self.min_step!r} sets the step of the default grid, but a "
                f"target grid was given; pass one of target= and min_step=, not both."
            )
        else:
            target = grid_from_target(self.target, "target")
        # Errors for out-of-range targets are raised here, at fit time, with the
        # measured range in the message.
        resample_spectra(X[:1], src, target, kind=self.kind)
        self.target_wavelengths_ = target

    def _axis_out(self):
        return self.target_wavelengths_

    def _transform(self, X):
        if np.array_equal(self.target_wavelengths_, self.wavelengths_):
            return X.copy()
        if self.kind == "linear" and X.flags.f_contiguous and not X.flags.c_contiguous:
            return _resample_columns(X, self.wavelengths_, self.target_wavelengths_)
        return resample_spectra(X, self.wavelengths_, self.target_wavelengths_, kind=self.kind)


class SpectralTrim(SpectralTransformer):
    """Keep the wavelengths inside a window ``start <= wavelength <= stop``.

    Parameters
    ----------
    start, stop : float or None, default=None
        Window limits in the unit of the axis (nm or cm-1), both included;
        ``None`` leaves that side open. Works on ascending and descending
        axes alike.
    wavelengths : array-like, "index" or None, default=None
        Axis of the input when ``X`` carries no wavelength column names.
        Required, for the same reason as in :class:`WavelengthResampler`.

    Attributes
    ----------
    wavelengths_ : ndarray of shape (n_features_in_,)
        Input axis.
    mask_ : ndarray of bool, shape (n_features_in_,)
        Which input columns are kept.
    n_features_in_ : int
        Number of input wavelengths.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a DataFrame seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_soilspec.preprocessing import SpectralTrim
    >>> X = np.arange(6.0).reshape(1, 6)
    >>> trim = SpectralTrim(start=410, stop=430, wavelengths=[400, 410, 420, 430, 440, 450])
    >>> trim.fit_transform(X)
    array([[1., 2., 3.]])
    """

    _parameter_constraints = {
        **SpectralTransformer._parameter_constraints,
        "start": [None, Real],
        "stop": [None, Real],
    }
    _axis_required = True
    _changes_axis = True

    def __init__(self, start=None, stop=None, wavelengths=None):
        self.start = start
        self.stop = stop
        self.wavelengths = wavelengths

    def _fit(self, X):
        wl = self.wavelengths_
        lo = -np.inf if self.start is None else self.start
        hi = np.inf if self.stop is None else self.stop
        if lo > hi:
            raise ValueError(f"start={self.start} is larger than stop={self.stop}.")
        self.mask_ = (wl >= lo) & (wl <= hi)
        if not self.mask_.any():
            raise ValueError(
                f"The window {self.start}-{self.stop} holds no wavelength: the spectra "
                f"cover {wl.min():g}-{wl.max():g} ({wl.size} feature(s))."
            )

    def _axis_out(self):
        return self.wavelengths_[self.mask_]

    def _transform(self, X):
        return X[:, self.mask_]


class Binning(SpectralTransformer):
    """Average each run of ``bin_size`` adjacent wavelengths (down-sampling).

    A last, shorter run at the end of the spectrum is averaged too, so the
    covered range is kept.

    Parameters
    ----------
    bin_size : int, default=5
        Number of adjacent points averaged into one.
    wavelengths : array-like, "index" or None, default=None
        Optional axis; the output axis is the mean wavelength of each bin.
        Without one the output columns are named ``binning0``, ``binning1``...

    Attributes
    ----------
    wavelengths_ : ndarray of shape (n_features_in_,) or None
        Input axis, if known.
    bin_starts_ : ndarray of int
        First input column of each bin.
    bin_counts_ : ndarray of int
        Number of input columns in each bin.
    n_features_in_ : int
        Number of input wavelengths.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a DataFrame seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_soilspec.preprocessing import Binning
    >>> X = np.arange(5.0).reshape(1, 5)
    >>> Binning(bin_size=2, wavelengths=[400, 402, 404, 406, 408]).fit_transform(X)
    array([[0.5, 2.5, 4. ]])
    """

    _parameter_constraints = {
        **SpectralTransformer._parameter_constraints,
        "bin_size": [Interval(Integral, 1, None, closed="left")],
    }
    _changes_axis = True

    def __init__(self, bin_size=5, wavelengths=None):
        self.bin_size = bin_size
        self.wavelengths = wavelengths

    def _fit(self, X):
        n = X.shape[1]
        if self.bin_size > n:
            raise ValueError(
                f"bin_size={self.bin_size} is larger than the spectrum ({n} feature(s)); "
                "choose a smaller bin_size."
            )
        self.bin_starts_ = np.arange(0, n, self.bin_size)
        self.bin_counts_ = np.diff(np.append(self.bin_starts_, n))

    def _axis_out(self):
        axis = self.wavelengths_
        if axis is None:
            axis = np.arange(self.n_features_in_, dtype=np.float64)
        return np.add.reduceat(axis, self.bin_starts_) / self.bin_counts_

    def _transform(self, X):
        out = np.add.reduceat(X, self.bin_starts_, axis=1)
        out /= self.bin_counts_.astype(X.dtype)
        return out
