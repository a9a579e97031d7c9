"""Spectral transformers: ordinary scikit-learn transformers for soil spectra."""

from ._axis import (
    check_wavelength_grid,
    format_wavelengths,
    parse_wavelengths,
    resolve_wavelengths,
)
from ._resample import resample_spectra

__all__ = [
    "check_wavelength_grid",
    "format_wavelengths",
    "parse_wavelengths",
    "resample_spectra",
    "resolve_wavelengths",
]
