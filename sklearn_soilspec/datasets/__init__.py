"""Spectral libraries: the SpectralLibrary container and its loaders."""

from ._asd import load_asd
from ._csv import load_spectral_csv
from ._library import SpectralLibrary
from ._limesoda import LIMESODA_SITES, list_limesoda_sites, load_limesoda_spectra
from ._lucas import LUCAS_PROPERTIES, load_lucas
from ._opus import load_opus
from ._ossl import OSSL_PROPERTIES, load_ossl
from ._synthetic import make_spectra

__all__ = [
    "LIMESODA_SITES",
    "LUCAS_PROPERTIES",
    "OSSL_PROPERTIES",
    "SpectralLibrary",
    "list_limesoda_sites",
    "load_asd",
    "load_limesoda_spectra",
    "load_lucas",
    "load_opus",
    "load_ossl",
    "load_spectral_csv",
    "make_spectra",
]
