"""A lab's own export: one row per sample, wavelength-named columns."""

import os
import re

import numpy as np
import pandas as pd

from ._common import (
    clean_property,
    convert_measurement,
    detect_measurement,
    read_header,
    spectral_block,
)
from ._library import SpectralLibrary
from ..preprocessing import parse_wavelengths

__all__ = ["load_spectral_csv"]

# A number, optionally wrapped in a prefix/suffix: "450", "wl_450", "X450",
# "spc.450", "scan_visnir.450_ref", "4000.5".
_WAVE_NAME = re.compile(r"^[A-Za-z_.]*\d+(\.\d+)?[A-Za-z_]*$")
_RANGE = {"nm": (250.0, 3000.0), "cm-1": (350.0, 8000.0)}


def _auto_spectral(columns, unit):
    lo, hi = _RANGE[unit]
    out = []
    for c in columns:
        if _WAVE_NAME.match(c):
            w = parse_wavelengths([c])[0]
            if lo <= w <= hi:
                out.append(c)
    return out


def _is_property(values, name):
    """Numbers, possibly with '< LOD' style entries: a property column."""
    try:
        clean_property(values.to_numpy(), name, values.name)
    except ValueError:
        return False
    return True


def load_spectral_csv(
    path,
    target_columns=None,
    group_column=None,
    id_column=None,
    spectral_columns="auto",
    unit="nm",
    measurement="auto",
    as_frame=True,
):
    """Load a CSV with wavelength-named spectral columns and property columns.

    Parameters
    ----------
    path : str or path-like
        CSV (or .csv.gz) file, one row per sample.
    target_columns : list of str, default=None
        Property columns; default every numeric non-spectral column other
        than the group and id columns.
    group_column : str, default=None
        Domain label column (field, site, country); default one domain "all".
    id_column : str, default=None
        Sample id column; default the row number.
    spectral_columns : list of str or "auto", default="auto"
        Spectral columns; ``"auto"`` takes every column named by a number in
        the plausible range of ``unit`` (``450``, ``wl_450``, ``X450``).
    unit : {"nm", "cm-1"}, default="nm"
        Unit of the axis in the column names.
    measurement : {"auto", "absorbance", "reflectance"}, default="auto"
        What the file holds; ``"auto"`` decides from the visible slope
        (vis-NIR only). Reflectance in % is turned into a fraction; no other
        conversion is made.
    as_frame : bool, default=True
        ``X`` and ``Y`` as DataFrames.

    Returns
    -------
    library : SpectralLibrary

    Examples
    --------
    >>> import io
    >>> from sklearn_soilspec.datasets import load_spectral_csv
    >>> text = "id,field,OC,450,500,600,700,800\\nA,f1,1.2,0.9,0.8,0.7,0.6,0.55\\n"
    >>> lib = load_spectral_csv(io.StringIO(text), id_column="id", group_column="field")
    >>> lib.measurement, lib.target_names, lib.X.shape
    ('absorbance', ['OC'], (1, 5))
    """
    if unit not in _RANGE:
        raise ValueError(f"unit must be 'nm' or 'cm-1', got {unit!r}.")
    if measurement not in ("auto", "absorbance", "reflectance"):
        raise ValueError(
            f"measurement must be 'auto', 'absorbance' or 'reflectance', got {measurement!r}."
        )
    name = path if isinstance(path, (str, os.PathLike)) else "<buffer>"
    if isinstance(path, (str, os.PathLike)):
        if not os.path.exists(path):
            raise FileNotFoundError(f"No such file: {os.fspath(path)!r}.")
        read_header(path)
    df = pd.read_csv(path, low_memory=False)
    df.columns = [str(c).strip() for c in df.columns]
    cols = list(df.columns)
    for what, col in (("group_column", group_column), ("id_column", id_column)):
        if col is not None and col not in cols:
            raise ValueError(f"{what}={col!r} is not a column of {os.fspath(name)!r}.")
    if isinstance(spectral_columns, str) and spectral_columns == "auto":
        spec = _auto_spectral(cols, unit)
    else:
        spec = list(spectral_columns)
        missing = [c for c in spec if c not in cols]
        if missing:
            raise ValueError(f"Spectral columns {missing[:5]} not in {os.fspath(name)!r}.")
    if len(spec) < 2:
        raise ValueError(
            f"Found {len(spec)} spectral columns in {os.fspath(name)!r}; name them by "
            "wavelength (e.g. '450' or 'wl_450') or pass spectral_columns=."
        )
    axis = parse_wavelengths(spec)
    X = spectral_block(df, spec, name)
    if not np.isfinite(X).all():
        row = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
        raise ValueError(
            f"NaN spectra in {os.fspath(name)!r} (first at row {row}); remove or fill "
            "them before loading."
        )
    rest = [c for c in cols if c not in spec and c not in (group_column, id_column)]
    if target_columns is None:
        target_columns = [c for c in rest if _is_property(df[c], name)]
    else:
        if isinstance(target_columns, str):
            target_columns = [target_columns]
        target_columns = list(target_columns)
        missing = [c for c in target_columns if c not in cols]
        if missing:
            raise ValueError(f"Target columns {missing} not in {os.fspath(name)!r}.")
    Y = np.column_stack(
        [clean_property(df[c].to_numpy(), name, c) for c in target_columns]
    ) if target_columns else np.empty((len(df), 0))

    conversions = []
    if measurement == "auto" and unit == "cm-1":
        raise ValueError("measurement='auto' works for vis-NIR only; state the MIR measurement.")
    out_measurement = measurement
    if measurement == "auto":
        found = detect_measurement(X, axis)
        if found is None:
            raise ValueError(
                f"Cannot tell reflectance from absorbance in {os.fspath(name)!r} (axis "
                "misses 450-750 nm); pass measurement=."
            )
        out_measurement = found[0]
    X = convert_measurement(X, axis, measurement, out_measurement, conversions, os.fspath(name))
    groups = (df[group_column].astype("string").fillna("unknown").to_numpy(dtype=object)
              if group_column else np.full(len(df), "all", dtype=object))
    ids = (df[id_column].astype(str).to_numpy(dtype=object) if id_column
           else np.arange(len(df)).astype(str).astype(object))
    lib = SpectralLibrary(
        X=X, Y=Y, groups=groups, wavelengths=axis, unit=unit, measurement=out_measurement,
        target_names=list(target_columns), target_units={c: "as stored" for c in target_columns},
        sample_ids=ids, conversions=conversions,
        DESCR=f"Spectral library read from {os.path.basename(os.fspath(name))}.\n"
        + "\n".join(f"  - {c}" for c in conversions),
    )
    return lib.as_frame() if as_frame else lib
