"""A lab's own export: one row per sample, wavelength-named columns."""

import io
import os
import re

import numpy as np
import pandas as pd

from ._common import (
    clean_property,
    parse_property,
    convert_measurement,
    detect_measurement,
    spectral_block,
)
from ._library import SpectralLibrary
from ..preprocessing import parse_wavelengths

__all__ = ["load_spectral_csv"]

# Spectral headers: a number, optionally after a known prefix ("wl_450",
# "X450", "spc.450", "scan_visnir.450_ref", "wn_4000") or before a unit
# ("500nm", "4000 cm-1"). Anything else ("sand_2000um", "var12", "depth10")
# names a property or metadata, never a wavelength.
_WAVE_NAME = re.compile(
    r"^(?:wl[_.]?|wn[_.]?|nm_?|x|spc[_.]|scan_(?:visnir|mir)\.|band_?)?"
    r"(?P<value>\d+(?:\.\d+)?)"
    r"(?:_(?:ref|abs|refl)|\s*_?(?P<unit>nm|cm-1|cm\^-1|1/cm))?$",
    re.IGNORECASE,
)
_RANGE = {"nm": (250.0, 3000.0), "cm-1": (350.0, 8000.0)}
# Columns that hold sample ids by convention, compared after lower-casing
# and turning " .-" into "_": never read as a property.
_ID_NAMES = {"id", "sample", "sample_id", "sampleid", "sample_name", "sample_no",
             "sample_number", "id_sample", "lab_id", "labid", "point_id", "pointid"}
_UNIT_OF = {"nm": "nm", "cm-1": "cm-1", "cm^-1": "cm-1", "1/cm": "cm-1"}


def _is_id_name(column):
    return re.sub(r"[\s.\-]+", "_", column.strip().lower()) in _ID_NAMES


def _is_unnamed(column):
    return re.fullmatch(r"Unnamed: \d+", column) is not None


def _axis_value(column):
    m = _WAVE_NAME.match(column)
    # A unit suffix ("4000 cm-1") holds a number that is not the wavenumber.
    return float(m.group("value")) if m else parse_wavelengths([column])[0]


def _auto_spectral(columns, unit, name):
    lo, hi = _RANGE[unit]
    out, outside = [], []
    for c in columns:
        m = _WAVE_NAME.match(c)
        if not m:
            continue
        stated = m.group("unit")
        if stated and _UNIT_OF[stated.lower()] != unit:
            raise ValueError(
                f"Column {c!r} of {name!r} is in {_UNIT_OF[stated.lower()]} but unit={unit!r}; "
                f"pass unit={_UNIT_OF[stated.lower()]!r} (soilspec: --unit "
                f"{_UNIT_OF[stated.lower()]})."
            )
        (out if lo <= float(m.group("value")) <= hi else outside).append(c)
    if outside:
        other = "cm-1" if unit == "nm" else "nm"
        raise ValueError(
            f"Columns {outside[:3]} of {name!r} are named like wavelengths but lie outside "
            f"the {unit} range {lo:g}-{hi:g}; for a {'MIR' if other == 'cm-1' else 'vis-NIR'} "
            f"file pass unit={other!r} (soilspec: --unit {other}), or rename columns that "
            "are not spectra, or pass spectral_columns=."
        )
    return out


def _read(path, name, sep, decimal):
    """The table and its raw header (duplicates not renamed), as ValueErrors."""
    if not isinstance(path, (str, os.PathLike)):
        text = path.read()
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        source = lambda: io.StringIO(text)  # noqa: E731 - read twice
    else:
        if not os.path.exists(path):
            raise FileNotFoundError(f"No such file: {os.fspath(path)!r}.")
        if os.path.isdir(path):
            raise ValueError(f"{name!r} is a folder; give a CSV file.")
        if name.lower().endswith((".xlsx", ".xls", ".ods")):
            raise ValueError(f"{name!r} is a spreadsheet, not a CSV file; export it as CSV "
                             "(UTF-8) first.")
        source = lambda: path  # noqa: E731
    try:
        raw = pd.read_csv(source(), header=None, nrows=1, sep=sep, dtype=str,
                          keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{name!r} is empty: no header line with column names.") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"Cannot read {name!r} as CSV: {_first_line(exc)}") from None
    header = [str(c).strip() for c in raw.iloc[0].tolist()]
    while len(header) > 1 and not header[-1]:
        header = header[:-1]  # a trailing separator on the header line
    if len(header) == 1 and sep == ",":
        for other, word in ((";", "semicolons"), ("\t", "tabs")):
            if other in header[0]:
                shown = repr(other)
                raise ValueError(
                    f"{name!r} has one column only; its header is separated by {word}: pass "
                    f"sep={shown} (soilspec: --sep {shown}), and decimal=',' if the numbers "
                    "use decimal commas."
                )
    try:
        # The body without a header: pandas never makes a column the index
        # (it would when rows have one field more than the header names).
        df = pd.read_csv(source(), header=None, skiprows=1, low_memory=False, sep=sep,
                         decimal=decimal)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{name!r} has a header but no samples (rows).") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"Cannot read {name!r} as CSV: {_first_line(exc)}") from None
    if df.shape[1] > len(header):
        if df.iloc[:, len(header):].notna().any().any():
            raise ValueError(
                f"The rows of {name!r} have {df.shape[1]} fields but its header names "
                f"{len(header)}; a column name is missing from the first line.")
        df = df.iloc[:, :len(header)]  # trailing separators on the data lines
    elif df.shape[1] < len(header):
        raise ValueError(
            f"The header of {name!r} names {len(header)} columns but the rows have "
            f"{df.shape[1]} fields; check the separator and the last columns.")
    # pandas' names for unnamed columns (an index written by DataFrame.to_csv).
    header = [c or f"Unnamed: {i}" for i, c in enumerate(header)]
    seen, dup = set(), []
    for c in header:
        if c in seen and c not in dup:
            dup.append(c)
        seen.add(c)
    if dup:
        raise ValueError(
            f"{name!r} has duplicated column names {dup[:5]}; every column needs its own "
            "name (a repeated wavelength would be read as another one)."
        )
    if not len(df):
        raise ValueError(f"{name!r} has a header but no samples (rows).")
    df.columns = header
    return df


def _first_line(exc):
    if isinstance(exc, UnicodeDecodeError):
        return (f"it holds bytes that are not UTF-8 text (such as "
                f"{exc.object[exc.start:exc.start + 1]!r}); save the file as CSV UTF-8")
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _classify(df, rest, name, bad_values, conversions):
    """The property columns among ``rest``: numbers, possibly '< LOD' entries.

    A column of text only (a texture class, a comment) is metadata and noted;
    a column of numbers with some text cells is a property with bad cells,
    which :func:`clean_property` reports (an error unless ``bad_values``).
    """
    targets = []
    for c in rest:
        if _is_id_name(c):
            continue
        if _is_unnamed(c):
            conversions.append(f"Column {c!r} has no name: not read as a property.")
            continue
        values, bad = parse_property(df[c].to_numpy())
        if bad.any() and not np.isfinite(values).any() and not np.isinf(
                pd.to_numeric(df[c], errors="coerce")).any():
            conversions.append(f"Column {c!r} holds no numbers: not read as a property.")
            continue
        targets.append(c)
    return targets


def load_spectral_csv(
    path,
    target_columns=None,
    group_column=None,
    id_column=None,
    spectral_columns="auto",
    unit="nm",
    measurement="auto",
    as_frame=True,
    *,
    bad_values="raise",
    sep=",",
    decimal=".",
):
    """Load a CSV with wavelength-named spectral columns and property columns.

    Nothing is reclassified silently: a column is spectral only when its
    header is a wavelength, a property only when it holds numbers, and any
    cell that fits neither is an error naming the column and the line.

    Parameters
    ----------
    path : str, path-like or file-like
        CSV (or .csv.gz) file, one row per sample.
    target_columns : list of str, default=None
        Property columns; default every numeric column that is neither
        spectral nor the group or id column, and not named like a sample id
        (``id``, ``sample``, ``sample_id``, ``lab_id``, ``point_id``). A column
        of text only (comments, classes) is skipped and noted in
        ``conversions``.
    group_column : str, default=None
        Domain label column (field, site, country); default one domain "all".
    id_column : str, default=None
        Sample id column; default the first column named like a sample id
        (see ``target_columns``), else the row number.
    spectral_columns : list of str or "auto", default="auto"
        Spectral columns; ``"auto"`` takes every column whose header is a
        number (``450``, ``4000.5``), optionally after a known prefix
        (``wl_450``, ``X450``, ``spc.450``, ``wn_4000``,
        ``scan_visnir.450_ref``) or before a unit (``500nm``, ``4000 cm-1``).
        Such a header outside the plausible range of ``unit`` is an error.
    unit : {"nm", "cm-1"}, default="nm"
        Unit of the axis in the column names (``cm-1`` for MIR).
    measurement : {"auto", "absorbance", "reflectance"}, default="auto"
        What the file holds; ``"auto"`` decides from the visible slope
        (vis-NIR only). Reflectance in % is turned into a fraction; no other
        conversion is made.
    as_frame : bool, default=True
        ``X`` and ``Y`` as DataFrames.
    bad_values : {"raise", "nan"}, default="raise"
        A property cell that is neither a number nor a missing-value token
        ("", "n.d.", "< LOD"), or is infinite: an error, or with ``"nan"``
        missing, with a warning counting the cells of each column.
    sep : str, default=","
        Field separator (``";"`` for many European exports).
    decimal : str, default="."
        Decimal mark (``","`` with ``sep=";"``).

    Returns
    -------
    library : SpectralLibrary
        With ``unit`` and ``measurement`` as read.

    Raises
    ------
    ValueError
        For an empty or unparsable file, duplicated column names, no
        wavelength columns, a text, missing or infinite spectral value, a text
        or infinite property cell (unless ``bad_values="nan"``); the message
        names the file, the column and the line.

    Examples
    --------
    >>> import io
    >>> from sklearn_soilspec.datasets import load_spectral_csv
    >>> text = "id,field,OC,450,500,600,700,800\\nA,f1,1.2,0.9,0.8,0.7,0.6,0.55\\n"
    >>> lib = load_spectral_csv(io.StringIO(text), group_column="field")
    >>> lib.measurement, lib.target_names, lib.X.shape, lib.sample_ids.tolist()
    ('absorbance', ['OC'], (1, 5), ['A'])
    >>> load_spectral_csv(io.StringIO("id,OC,clay\\nA,1.2,30\\n"))
    Traceback (most recent call last):
    ...
    ValueError: No wavelength columns found in '<buffer>' ...
    """
    if unit not in _RANGE:
        raise ValueError(f"unit must be 'nm' or 'cm-1', got {unit!r}.")
    if measurement not in ("auto", "absorbance", "reflectance"):
        raise ValueError(
            f"measurement must be 'auto', 'absorbance' or 'reflectance', got {measurement!r}."
        )
    if bad_values not in ("raise", "nan"):
        raise ValueError(f"bad_values must be 'raise' or 'nan', got {bad_values!r}.")
    name = os.fspath(path) if isinstance(path, (str, os.PathLike)) else "<buffer>"
    df = _read(path, name, sep, decimal)
    cols = list(df.columns)
    for what, col in (("group_column", group_column), ("id_column", id_column)):
        if col is not None and col not in cols:
            raise ValueError(f"{what}={col!r} is not a column of {name!r}; it has {cols[:8]}.")
    conversions = []
    if id_column is None:
        # An unnamed first column is the index DataFrame.to_csv writes.
        named = [c for c in cols if _is_id_name(c) and c != group_column]
        named += [c for c in cols[:1] if _is_unnamed(c)]
        if named:
            id_column = named[0]
    if isinstance(spectral_columns, str) and spectral_columns == "auto":
        spec = _auto_spectral([c for c in cols if c not in (group_column, id_column)], unit,
                              name)
    else:
        spec = list(spectral_columns)
        missing = [c for c in spec if c not in cols]
        if missing:
            raise ValueError(f"Spectral columns {missing[:5]} not in {name!r}.")
    if len(spec) < 2:
        raise ValueError(
            f"No wavelength columns found in {name!r} ({len(spec)} spectral column"
            f"{'' if len(spec) == 1 else 's'} among {cols[:6]}{' ...' if len(cols) > 6 else ''})"
            f"; name the spectral columns by their wavelength ('450', '450nm', 'wl_450'; "
            f"wavenumbers with unit='cm-1'), or pass spectral_columns=."
        )
    axis = np.array([_axis_value(c) for c in spec])
    values, counts = np.unique(axis, return_counts=True)
    if (counts > 1).any():
        twice = values[counts > 1][0]
        raise ValueError(
            f"Columns {[c for c, w in zip(spec, axis) if w == twice]} of {name!r} name the "
            f"same wavelength {twice:g}; keep one of them.")
    X = spectral_block(df, spec, name, finite=True)
    rest = [c for c in cols if c not in spec and c not in (group_column, id_column)]
    if target_columns is None:
        target_columns = _classify(df, rest, name, bad_values, conversions)
    else:
        if isinstance(target_columns, str):
            target_columns = [target_columns]
        target_columns = list(target_columns)
        missing = [c for c in target_columns if c not in cols]
        if missing:
            raise ValueError(
                f"Target columns {missing} not in {name!r}; its property columns could be "
                f"{rest[:8]}.")
        clash = [c for c in target_columns if c in spec or c in (group_column, id_column)]
        if clash:
            raise ValueError(
                f"Target columns {clash} of {name!r} are already spectral, group or id "
                "columns.")
    Y = np.column_stack(
        [clean_property(df[c].to_numpy(), name, c, bad_values=bad_values, first_line=2)
         for c in target_columns]
    ) if target_columns else np.empty((len(df), 0))

    if measurement == "auto" and unit == "cm-1":
        raise ValueError(
            f"{name!r}: measurement='auto' works for vis-NIR only; state what the MIR "
            "spectra are with measurement='absorbance' or 'reflectance' (soilspec: "
            "--measurement).")
    out_measurement = measurement
    if measurement == "auto":
        found = detect_measurement(X, axis)
        if found is None:
            raise ValueError(
                f"Cannot tell reflectance from absorbance in {name!r} (axis "
                "misses 450-750 nm); pass measurement='absorbance' or 'reflectance' "
                "(soilspec: --measurement)."
            )
        out_measurement = found[0]
    X = convert_measurement(X, axis, measurement, out_measurement, conversions, name)
    groups = (df[group_column].astype("string").fillna("unknown").to_numpy(dtype=object)
              if group_column else np.full(len(df), "all", dtype=object))
    ids = (df[id_column].astype("string").fillna("").to_numpy(dtype=object) if id_column
           else np.arange(len(df)).astype(str).astype(object))
    lib = SpectralLibrary(
        X=X, Y=Y, groups=groups, wavelengths=axis, unit=unit, measurement=out_measurement,
        target_names=list(target_columns), target_units={c: "as stored" for c in target_columns},
        sample_ids=ids, conversions=conversions,
        DESCR=f"Spectral library read from {os.path.basename(name)}.\n"
        + "\n".join(f"  - {c}" for c in conversions),
    )
    return lib.as_frame() if as_frame else lib
