"""Spectral libraries: the SpectralLibrary container and its loaders."""

from ._library import SpectralLibrary

__all__ = ["SpectralLibrary"]
