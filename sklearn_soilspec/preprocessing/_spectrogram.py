"""Spectrograms: each spectrum as a 2-D frequency x position image for a CNN."""

from numbers import Integral, Real

import numpy as np
from scipy.signal import get_window, spectrogram
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils._set_output import _get_output_config

from ._base import SpectralTransformer, regular_step

__all__ = ["Spectrogram"]

# Rows per float64 block, so float32 libraries never need a full float64 copy.
_CHUNK_ROWS = 1024


class Spectrogram(SpectralTransformer):
    """Turn each spectrum into a time-frequency image (short-time Fourier power).

    The spectrum is cut into overlapping windows along the wavelength axis
    and the power of each window's Fourier transform is taken
    (:func:`scipy.signal.spectrogram`, all rows at once), then its natural
    log. The defaults (Hann window of 100 points, 50 overlapping) follow the
    spectrogram CNN of Padarian, Minasny & McBratney (2019, Geoderma
    Regional 16, e00198; used again for the transfer-learning study in
    Geoderma 340, 279-288). Stateless: ``fit`` only records the shapes.

    Parameters
    ----------
    window : str, tuple or array-like, default="hann"
        Window, as accepted by :func:`scipy.signal.get_window`.
    nperseg : int, default=100
        Points per window; at most the number of wavelengths.
    noverlap : int or None, default=50
        Points shared by consecutive windows; smaller than ``nperseg``.
        ``None`` means ``nperseg // 2``.
    nfft : int or None, default=None
        FFT length (zero padding); ``None`` means ``nperseg``.
    detrend : {"constant", "linear", False}, default="constant"
        Trend removed from each window before the transform.
    scaling : {"density", "spectrum"}, default="density"
        Power spectral density or power spectrum, per point (the sampling
        frequency is one per wavelength step, so the output does not depend
        on the unit of the axis).
    log : bool, default=True
        Take ``log(power + eps)``.
    eps : float, default=1e-10
        Floor added before the log, so flat windows give ``log(eps)``
        instead of minus infinity.
    flatten : bool, default=True
        True: output of shape ``(n_samples, n_freq * n_time)``, frequency-
        major (C order), so it passes through pipelines, ``set_output`` and
        the common checks; the CNN reshapes it with ``image_shape_``.
        False: output of shape ``(n_samples, n_freq, n_time)`` for a 2-D
        CNN used directly; this has no column names, so it cannot be
        combined with ``set_output(transform="pandas")``.
    wavelengths : array-like, "index" or None, default=None
        Optional axis; if one is known it must be evenly spaced (a Fourier
        transform assumes it), otherwise resample with
        :class:`WavelengthResampler` first.

    Attributes
    ----------
    image_shape_ : tuple of int
        ``(n_freq, n_time)`` with ``n_freq = nfft // 2 + 1`` and
        ``n_time = 1 + (n_wavelengths - nperseg) // (nperseg - noverlap)``.
    frequencies_ : ndarray of shape (n_freq,)
        Frequencies in cycles per wavelength step.
    times_ : ndarray of shape (n_time,)
        Centre of each window, in points from the first wavelength.
    wavelengths_ : ndarray of shape (n_features_in_,) or None
        Axis read in ``fit``, if any.
    n_features_in_ : int
        Number of wavelengths.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a DataFrame seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_soilspec.preprocessing import Spectrogram
    >>> X = np.random.default_rng(0).normal(size=(3, 500))
    >>> sg = Spectrogram().fit(X)
    >>> sg.image_shape_
    (51, 9)
    >>> sg.transform(X).shape
    (3, 459)
    >>> Spectrogram(flatten=False).fit_transform(X).shape
    (3, 51, 9)
    """

    _parameter_constraints = {
        **SpectralTransformer._parameter_constraints,
        "window": [str, tuple, "array-like"],
        "nperseg": [Interval(Integral, 1, None, closed="left")],
        "noverlap": [None, Interval(Integral, 0, None, closed="left")],
        "nfft": [None, Interval(Integral, 1, None, closed="left")],
        "detrend": [StrOptions({"constant", "linear"}), Options(bool, {False})],
        "scaling": [StrOptions({"density", "spectrum"})],
        "log": ["boolean"],
        "eps": [Interval(Real, 0, None, closed="neither")],
        "flatten": ["boolean"],
    }

    def __init__(
        self,
        window="hann",
        nperseg=100,
        noverlap=50,
        nfft=None,
        detrend="constant",
        scaling="density",
        log=True,
        eps=1e-10,
        flatten=True,
        wavelengths=None,
    ):
        self.window = window
        self.nperseg = nperseg
        self.noverlap = noverlap
        self.nfft = nfft
        self.detrend = detrend
        self.scaling = scaling
        self.log = log
        self.eps = eps
        self.flatten = flatten
        self.wavelengths = wavelengths

    def _segments(self):
        noverlap = self.nperseg // 2 if self.noverlap is None else self.noverlap
        nfft = self.nperseg if self.nfft is None else self.nfft
        return noverlap, nfft

    def _fit(self, X):
        n = X.shape[1]
        noverlap, nfft = self._segments()
        if self.nperseg > n:
            raise ValueError(
                f"nperseg={self.nperseg} is longer than the spectrum ({n} feature(s)): "
                "choose a smaller nperseg or resample onto a finer wavelength grid."
            )
        if noverlap >= self.nperseg:
            raise ValueError(
                f"noverlap={noverlap} must be smaller than nperseg={self.nperseg}."
            )
        if nfft < self.nperseg:
            raise ValueError(f"nfft={nfft} must be at least nperseg={self.nperseg}.")
        try:
            window = get_window(self.window, self.nperseg)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"Invalid window {self.window!r}: {exc}") from None
        if window.shape != (self.nperseg,):
            raise ValueError(
                f"The window has {window.size} points but nperseg={self.nperseg}."
            )
        if self.wavelengths_ is not None and n > 1 and regular_step(self.wavelengths_) is None:
            raise ValueError(
                "The wavelength axis is unevenly spaced; a spectrogram assumes even "
                "spacing. Resample first with WavelengthResampler() (its default target "
                "is an even grid)."
            )
        freqs, times, _ = spectrogram(X[:1], **self._kwargs(window))
        self.frequencies_ = freqs
        self.times_ = times
        self.image_shape_ = (freqs.size, times.size)

    def _kwargs(self, window):
        noverlap, nfft = self._segments()
        return dict(
            fs=1.0,
            window=window,
            nperseg=self.nperseg,
            noverlap=noverlap,
            nfft=nfft,
            detrend=self.detrend,
            scaling=self.scaling,
            mode="psd",
            axis=-1,
        )

    def _transform(self, X):
        if not self.flatten and _get_output_config("transform", self)["dense"] != "default":
            raise ValueError(
                "Spectrogram(flatten=False) returns 3-D images, which cannot become a "
                "DataFrame: use flatten=True with set_output(transform='pandas')."
            )
        kwargs = self._kwargs(get_window(self.window, self.nperseg))
        out = np.empty((X.shape[0], *self.image_shape_), dtype=X.dtype)
        for start in range(0, X.shape[0], _CHUNK_ROWS):
            # float64 inside: the high-frequency power of a smooth spectrum sits
            # near float32's rounding noise, and its log would be mostly noise.
            block = X[start : start + _CHUNK_ROWS].astype(np.float64)
            _, _, power = spectrogram(block, **kwargs)
            if self.log:
                power += self.eps
                np.log(power, out=power)
            out[start : start + _CHUNK_ROWS] = power
        return out.reshape(X.shape[0], -1) if self.flatten else out

    def get_feature_names_out(self, input_features=None):
        """Names ``f{i}_t{j}`` of the flattened image: frequency i, window j.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input names; only checked against ``feature_names_in_``.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        super().get_feature_names_out(input_features)
        if not self.flatten:
            raise ValueError(
                "Spectrogram(flatten=False) returns 3-D images without column names; "
                "use flatten=True."
            )
        n_freq, n_time = self.image_shape_
        return np.asarray(
            [f"f{i}_t{j}" for i in range(n_freq) for j in range(n_time)], dtype=object
        )
