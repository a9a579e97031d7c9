"""The one container every loader returns."""

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..preprocessing._axis import format_wavelengths

__all__ = ["SpectralLibrary"]

_UNITS = ("nm", "cm-1")
_MEASUREMENTS = ("absorbance", "reflectance")


@dataclass(repr=False)
class SpectralLibrary:
    """A multi-domain spectral library: spectra, targets with holes, domains.

    Every loader in :mod:`sklearn_soilspec.datasets` returns one. It holds what
    a localisation experiment needs and nothing more: spectra on one axis,
    properties (NaN where not measured), one domain label per sample (country,
    site) and the provenance of the data.

    Parameters
    ----------
    X : DataFrame or ndarray of shape (n_samples, n_wavelengths)
        Spectra. As a DataFrame its columns are the formatted axis values
        (``"450"``, ``"452.5"``) and its index the sample ids.
    Y : DataFrame or ndarray of shape (n_samples, n_targets)
        Soil properties, NaN where a property was not measured.
    groups : ndarray of shape (n_samples,)
        Domain label of each sample (country code, site id).
    wavelengths : ndarray of shape (n_wavelengths,)
        The spectral axis of ``X``.
    unit : {"nm", "cm-1"}
        Unit of ``wavelengths`` (nm for vis-NIR, wavenumbers for MIR).
    measurement : {"absorbance", "reflectance"}
        What the values of ``X`` are. Absorbance is ``log10(1/R)``.
    target_names : list of str
        Names of the columns of ``Y``.
    target_units : dict
        Unit of each target, e.g. ``{"OC": "%", "pH": "-"}``.
    sample_ids : ndarray of shape (n_samples,)
        Identifier of each sample.
    folds : ndarray of shape (n_samples,) or None
        Fold ids shipped with the data (LimeSoDa's own folds), if any.
    conversions : list of str
        Every unit or measurement conversion applied on loading.
    DESCR : str
        Source, licence and description of the data.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_soilspec.datasets import SpectralLibrary
    >>> lib = SpectralLibrary(X=np.ones((3, 4)), Y=np.array([[1.0], [np.nan], [2.0]]),
    ...                       groups=np.array(["a", "a", "b"]),
    ...                       wavelengths=np.array([400.0, 410.0, 420.0, 430.0]),
    ...                       target_names=["OC"])
    >>> lib.domains.tolist()
    ['a', 'b']
    >>> local, global_ = lib.split_domain("b")
    >>> len(local), len(global_)
    (1, 2)
    """

    X: object
    Y: object
    groups: np.ndarray
    wavelengths: np.ndarray
    unit: str = "nm"
    measurement: str = "absorbance"
    target_names: list = field(default_factory=list)
    target_units: dict = field(default_factory=dict)
    sample_ids: np.ndarray = None
    folds: np.ndarray = None
    conversions: list = field(default_factory=list)
    DESCR: str = ""

    def __post_init__(self):
        n = _n_rows(self.X)
        self.wavelengths = np.asarray(self.wavelengths, dtype=np.float64).ravel()
        if self.wavelengths.shape[0] != _n_cols(self.X):
            raise ValueError(
                f"Wrong wavelength count: {self.wavelengths.shape[0]} wavelengths for "
                f"{_n_cols(self.X)} spectral columns."
            )
        if self.unit not in _UNITS:
            raise ValueError(f"unit must be one of {_UNITS}, got {self.unit!r}.")
        if self.measurement not in _MEASUREMENTS:
            raise ValueError(
                f"measurement must be one of {_MEASUREMENTS}, got {self.measurement!r}."
            )
        if isinstance(self.Y, pd.Series):
            self.Y = self.Y.to_frame()
        if getattr(self.Y, "ndim", 2) == 1:
            self.Y = np.asarray(self.Y).reshape(-1, 1)
        if _n_rows(self.Y) != n:
            raise ValueError(f"X has {n} rows but Y has {_n_rows(self.Y)}.")
        if isinstance(self.Y, pd.DataFrame) and not self.target_names:
            self.target_names = [str(c) for c in self.Y.columns]
        if not self.target_names:
            self.target_names = [f"target_{i}" for i in range(_n_cols(self.Y))]
        if len(self.target_names) != _n_cols(self.Y):
            raise ValueError(
                f"{len(self.target_names)} target names for {_n_cols(self.Y)} target columns."
            )
        self.groups = np.asarray(self.groups, dtype=object).ravel()
        if self.groups.shape[0] != n:
            raise ValueError(f"X has {n} rows but groups has {self.groups.shape[0]}.")
        if self.sample_ids is None:
            self.sample_ids = (
                np.asarray(self.X.index, dtype=object)
                if isinstance(self.X, pd.DataFrame)
                else np.arange(n).astype(str).astype(object)
            )
        self.sample_ids = np.asarray(self.sample_ids, dtype=object).ravel()
        if self.folds is not None:
            self.folds = np.asarray(self.folds).ravel()

    # -- views -------------------------------------------------------------
    @property
    def domains(self):
        """Sorted unique domain labels."""
        return np.asarray(sorted(pd.unique(self.groups)), dtype=object)

    @property
    def n_samples(self):
        return _n_rows(self.X)

    def __len__(self):
        return self.n_samples

    def __repr__(self):
        counts = pd.Series(self.groups).value_counts(sort=False)
        doms = ", ".join(f"{k}: {v}" for k, v in counts.items())
        wl = self.wavelengths
        axis = f"{wl.min():g}-{wl.max():g} {self.unit} ({wl.size} points)" if wl.size else "empty"
        return (
            f"SpectralLibrary({self.n_samples} spectra, {self.measurement}, {axis}; "
            f"targets {self.target_names}; domains {{{doms}}})"
        )

    def as_frame(self):
        """The same library with ``X`` and ``Y`` as DataFrames."""
        X = self.X
        if not isinstance(X, pd.DataFrame):
            X = pd.DataFrame(
                np.asarray(X),
                columns=format_wavelengths(self.wavelengths),
                index=pd.Index(self.sample_ids, name="sample_id"),
            )
        Y = self.Y
        if not isinstance(Y, pd.DataFrame):
            Y = pd.DataFrame(np.asarray(Y, dtype=np.float64), columns=self.target_names, index=X.index)
        return replace(self, X=X, Y=Y)

    def as_arrays(self):
        """The same library with ``X`` and ``Y`` as float ndarrays."""
        return replace(
            self,
            X=np.asarray(self.X, dtype=np.float32) if not isinstance(self.X, np.ndarray) else self.X,
            Y=np.asarray(self.Y, dtype=np.float64),
        )

    def subset(self, rows):
        """A library holding only ``rows`` (boolean mask or integer index)."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        return replace(
            self,
            X=_take(self.X, rows),
            Y=_take(self.Y, rows),
            groups=self.groups[rows],
            sample_ids=self.sample_ids[rows],
            folds=None if self.folds is None else self.folds[rows],
        )

    def select_targets(self, names):
        """A library with only the targets ``names`` (in that order)."""
        names = [names] if isinstance(names, str) else list(names)
        missing = [n for n in names if n not in self.target_names]
        if missing:
            raise ValueError(f"Unknown targets {missing}; this library has {self.target_names}.")
        idx = [self.target_names.index(n) for n in names]
        Y = self.Y[names] if isinstance(self.Y, pd.DataFrame) else np.asarray(self.Y)[:, idx]
        units = {n: self.target_units[n] for n in names if n in self.target_units}
        return replace(self, Y=Y, target_names=names, target_units=units)

    def split_domain(self, domain):
        """Split into the ``domain`` samples (local) and all others (global).

        Returns
        -------
        local, global_ : SpectralLibrary
        """
        mask = self.groups == domain
        if not mask.any():
            raise ValueError(f"Unknown domain {domain!r}; domains are {self.domains.tolist()}.")
        return self.subset(mask), self.subset(~mask)


def _n_rows(a):
    return a.shape[0]


def _n_cols(a):
    return 1 if getattr(a, "ndim", 2) == 1 else a.shape[1]


def _take(a, rows):
    if isinstance(a, (pd.DataFrame, pd.Series)):
        return a.iloc[rows]
    return np.asarray(a)[rows]
