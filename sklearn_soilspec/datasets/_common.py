"""Shared pieces of the file loaders: reading, cleaning and shaping spectra.

Every loader reads big tables the same way (in row chunks, spectra as float32,
optional band averaging on the fly) so that a 20,000 x 4,200 library never
needs a float64 copy, and every loader reports bad input the same way: the
message names the file and the column.
"""

import os
import re
import warnings

import numpy as np
import pandas as pd

from ..preprocessing._axis import parse_wavelengths

# Tokens laboratories write instead of a number ("< LOD", "n.d."): missing.
_MISSING_TOKENS = {"", "na", "nan", "n.a.", "nd", "n.d.", "null", "none", "-"}


def read_header(path, sep=","):
    """Column names of a CSV file (stripped), with a clear error if unreadable."""
    try:
        cols = pd.read_csv(path, nrows=0, sep=sep).columns
    except pd.errors.EmptyDataError:
        raise ValueError(f"{os.fspath(path)!r} is empty: no header line.") from None
    except Exception as exc:  # pandas raises many types for broken files
        raise ValueError(f"Cannot read {os.fspath(path)!r} as CSV: {exc}") from exc
    return [str(c).strip() for c in cols]


def find_column(columns, candidates):
    """The first of ``candidates`` present in ``columns`` (case-insensitive)."""
    lower = {c.lower(): c for c in columns}
    for cand in candidates:
        if cand.lower() in lower:
            return lower[cand.lower()]
    return None


def parse_property(values):
    """Lab values as float and the mask of cells that are no number.

    Missing tokens ("", "n.d.", ...) and "< LOD" strings give NaN and are not
    bad; text and infinities are bad (and NaN in the result).
    """
    s = pd.Series(values)
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        text = s.astype("string").str.strip()
        missing = (text.isna() | text.str.lower().isin(_MISSING_TOKENS)
                   | text.str.startswith("<")).fillna(True)
        num = pd.to_numeric(text.where(~missing), errors="coerce")
        out = num.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = (np.isnan(out) & ~missing.to_numpy(dtype=bool)) | np.isinf(out)
    elif pd.api.types.is_bool_dtype(s.dtype) or not pd.api.types.is_numeric_dtype(s.dtype):
        out = np.full(len(s), np.nan)
        bad = s.notna().to_numpy(dtype=bool)
    else:
        out = s.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.isinf(out)
    out = out.copy()
    out[bad] = np.nan
    return out, bad


def _is_inf(value):
    try:
        return bool(np.isinf(float(value)))
    except (TypeError, ValueError):
        return False


def _where(i, first_line):
    return f"row {i}" if first_line is None else f"line {i + first_line}"


def clean_property(values, path, column, bad_values="raise", first_line=None):
    """Lab values as float: sentinels and detection-limit strings become NaN.

    Negative numbers are the LUCAS/OSSL sentinel for "not measured" (-999,
    -1), and "< LOD" style strings mean below the detection limit; both are
    missing for a regression target. Any other text, or an infinity, is a
    malformed cell: an error naming the column and the row (the file's line
    when ``first_line``, the line of row 0, is given), or with
    ``bad_values="nan"`` a missing value and a warning counting the cells.
    """
    out, bad = parse_property(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        example = pd.Series(values).iloc[i]
        n = int(bad.sum())
        what = (f"an infinite value ({example})" if _is_inf(example)
                else f"non-numeric value {str(example)!r}")
        where = f"{os.fspath(path)!r}"
        if bad_values == "raise":
            raise ValueError(
                f"Column {column!r} of {where} holds {what} at {_where(i, first_line)}"
                f"{f' ({n} such cells)' if n > 1 else ''}; expected numbers (negative values "
                "or '< LOD' mean missing). Fix the cells, or read them as missing with "
                "bad_values='nan' (soilspec: --bad-values nan)."
            )
        warnings.warn(
            f"Column {column!r} of {where}: {n} non-numeric or infinite cell"
            f"{'s' if n > 1 else ''} read as missing (first {what} at "
            f"{_where(i, first_line)}).",
            UserWarning, stacklevel=3,
        )
    out[out < 0] = np.nan
    return out


def spectral_block(frame, columns, path, finite=False):
    """The spectral columns of a chunk as float32, naming any bad column and line.

    With ``finite``, a missing or infinite value is an error too (the large
    libraries drop incomplete spectra instead). Lines are counted from the
    frame's index, which for a chunk read by ``pandas.read_csv`` is the row
    number in the file (line = row + 2).
    """
    block = frame[columns]
    bad = [c for c in columns if not pd.api.types.is_numeric_dtype(block[c].dtype)
           or pd.api.types.is_bool_dtype(block[c].dtype)]
    if bad:
        col = bad[0]
        vals = pd.to_numeric(block[col], errors="coerce")
        example = block[col][vals.isna() & block[col].notna()]
        if pd.api.types.is_bool_dtype(block[col].dtype):
            example = block[col]
        shown = (f"{example.iloc[0]!r} at {_line_of(frame, example.index[0])}"
                 if len(example) else "text")
        raise ValueError(
            f"Spectral column {col!r} of {os.fspath(path)!r} holds non-numeric value "
            f"{shown}; spectra must be numbers."
        )
    X = block.to_numpy(dtype=np.float32)
    ok = np.isfinite(X) if finite else np.ones(X.shape, dtype=bool)
    if not ok.all():
        i, j = (int(k[0]) for k in np.nonzero(~ok))
        inf = bool(np.isinf(X[i, j]))
        raise ValueError(
            f"{'Infinite' if inf else 'NaN'} spectra in {os.fspath(path)!r} (first at "
            f"{_line_of(frame, frame.index[i], row=True)}): column {columns[j]!r} holds "
            f"{'an infinite' if inf else 'a missing'} value, "
            f"{int((~ok.all(axis=1)).sum())} spectra affected; remove or fill them before "
            "loading."
        )
    return X


def _line_of(frame, label, row=False):
    if isinstance(frame.index, pd.RangeIndex):
        return f"row {int(label)}, line {int(label) + 2}" if row else f"line {int(label) + 2}"
    return f"row {label!r}"


def band_average_plan(source, step):
    """Index ranges that average ``source`` points into ``step``-wide bands.

    Averaging (rather than picking every n-th point) is what a coarser
    instrument would record and keeps the noise of the 0.5 nm LUCAS channels
    out of the reduced spectra.
    """
    src = np.asarray(source, dtype=np.float64)
    ascending = src[-1] > src[0]
    lo, hi = (src.min(), src.max())
    span = abs(np.median(np.diff(src)))
    if not step > 0:
        raise ValueError(f"downsample must be a positive step, got {step!r}.")
    if step < span:
        raise ValueError(
            f"downsample={step:g} is finer than the measured spacing ({span:g}); "
            "choose a step of at least the original spacing."
        )
    centres = np.arange(np.ceil(lo / step) * step, hi + 1e-9, step)
    if not ascending:
        centres = centres[::-1]
    order = np.argsort(src)
    s_sorted = src[order]
    left = np.searchsorted(s_sorted, centres - step / 2, side="left")
    right = np.searchsorted(s_sorted, centres + step / 2, side="left")
    keep = right > left
    return centres[keep], order, left[keep], right[keep]


def apply_band_average(X, plan):
    """Average the columns of ``X`` (float32 chunk) according to ``plan``."""
    _, order, left, right = plan
    cs = np.zeros((X.shape[0], X.shape[1] + 1), dtype=np.float64)
    np.cumsum(X[:, order], axis=1, out=cs[:, 1:])
    return ((cs[:, right] - cs[:, left]) / (right - left)).astype(np.float32)


def average_replicates(ids, X):
    """Mean spectrum per id (replicate scans), ids in first-seen order."""
    ids = np.asarray(ids, dtype=object)
    uniq, first, inverse = np.unique(ids.astype(str), return_index=True, return_inverse=True)
    if uniq.size == ids.size:
        return ids, X, 0
    order = np.argsort(inverse, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(inverse[order])) + 1]
    sums = np.add.reduceat(X[order], starts, axis=0, dtype=np.float64)
    counts = np.diff(np.r_[starts, ids.size])
    means = (sums / counts[:, None]).astype(np.float32)
    # back to the order in which ids first appear in the file
    appear = np.argsort(first)
    return ids[first[appear]], means[appear], ids.size - uniq.size


def reflectance_to_absorbance(R, percent, where):
    """``log10(1/R)`` (``log10(100/R)`` for % reflectance), refusing R <= 0."""
    R = np.asarray(R)
    if np.any(R <= 0):
        raise ValueError(
            f"{where}: reflectance values <= 0 cannot be converted to absorbance "
            "(log10(1/R)); check the measurement type or clean the spectra first."
        )
    scale = 100.0 if percent else 1.0
    return np.log10(scale / R).astype(R.dtype if R.dtype.kind == "f" else np.float64)


def detect_measurement(X, wavelengths):
    """Guess reflectance (fraction or %) versus absorbance from a vis-NIR axis.

    Soil reflectance rises from blue (~450 nm) to red (~750 nm) for practically
    every soil (iron oxides and organic matter absorb in the blue), so
    absorbance falls there. Returns ``(measurement, percent)`` or ``None`` when
    the axis does not cover that range.
    """
    wl = np.asarray(wavelengths, dtype=np.float64)
    if wl.min() > 500 or wl.max() < 700:
        return None
    i450 = np.argmin(np.abs(wl - 450))
    i750 = np.argmin(np.abs(wl - 750))
    X = np.asarray(X)
    rising = np.nanmedian(X[:, i750] - X[:, i450]) > 0
    if rising:
        return "reflectance", bool(np.nanmax(X) > 1.5)
    return "absorbance", False


def drop_incomplete_spectra(X, where):
    """Rows without NaN, and a note when rows were dropped."""
    ok = np.isfinite(X).all(axis=1)
    note = None
    if not ok.all():
        note = f"{where}: dropped {int((~ok).sum())} spectra with missing values."
    return ok, note


def list_csv_files(path):
    """CSV (or gzipped CSV) files in a folder, sorted; or the file itself."""
    path = os.fspath(path)
    if os.path.isdir(path):
        files = sorted(
            os.path.join(path, f)
            for f in os.listdir(path)
            if re.search(r"\.csv(\.gz)?$", f, flags=re.IGNORECASE)
        )
        if not files:
            raise FileNotFoundError(f"No .csv or .csv.gz files in folder {path!r}.")
        return files
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file or folder: {path!r}.")
    return [path]


def wavelengths_of(columns, path):
    """Axis from column names, naming the file if a name holds no number."""
    try:
        return parse_wavelengths(list(columns))
    except ValueError as exc:
        raise ValueError(f"{os.fspath(path)!r}: {exc}") from exc


def convert_measurement(X, axis, input_measurement, measurement, conversions, where):
    """Convert ``X`` from what the file holds to ``measurement``, noting it."""
    if input_measurement == "auto":
        found = detect_measurement(X, axis)
        if found is None:
            raise ValueError(
                f"{where}: cannot tell reflectance from absorbance on this axis; "
                "pass input_measurement='absorbance' or 'reflectance'."
            )
        input_measurement, percent = found
        conversions.append(f"Spectra detected as {input_measurement}"
                           f"{' in %' if percent else ''} (visible slope).")
    else:
        percent = input_measurement == "reflectance" and np.nanmax(X) > 1.5
    if input_measurement == measurement:
        if percent:
            conversions.append("Reflectance in % -> fraction (R/100).")
            return (X / 100.0).astype(np.float32)
        return X
    if measurement == "absorbance":
        conversions.append("Reflectance -> absorbance log10(1/R).")
        return reflectance_to_absorbance(X, percent, where)
    conversions.append("Absorbance -> reflectance 10**(-A).")
    return np.power(np.float32(10.0), -X).astype(np.float32)
