"""Spectral transformers: ordinary scikit-learn transformers for soil spectra.

Every transformer reads the wavelength axis in ``fit`` (from DataFrame
column names such as ``wl_450`` or from a ``wavelengths`` parameter), keeps
it, and names its output columns; all work in a
:class:`~sklearn.pipeline.Pipeline` and with ``set_output``.
"""

from ._absorbance import Absorbance
from ._axis import (
    check_wavelength_grid,
    format_wavelengths,
    parse_wavelengths,
    resolve_wavelengths,
)
from ._continuum import ContinuumRemoval
from ._derivative import Detrend, SavitzkyGolay
from ._grid import Binning, SpectralTrim, WavelengthResampler
from ._resample import resample_spectra
from ._scatter import MSC, SNV
from ._spectrogram import Spectrogram

__all__ = [
    "Absorbance",
    "Binning",
    "ContinuumRemoval",
    "Detrend",
    "MSC",
    "SNV",
    "SavitzkyGolay",
    "SpectralTrim",
    "Spectrogram",
    "WavelengthResampler",
    "check_wavelength_grid",
    "format_wavelengths",
    "parse_wavelengths",
    "resample_spectra",
    "resolve_wavelengths",
]
