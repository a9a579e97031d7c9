"""The spectral axis: reading wavelengths (or wavenumbers) from column names.

Every transformer and loader in the package reads its axis through these
helpers, so that ``wl_450``, ``450``, ``450.5``, ``spc.450`` and
``scan_visnir.450_ref`` all mean the same thing everywhere.
"""

import re

import numpy as np

__all__ = [
    "parse_wavelengths",
    "format_wavelengths",
    "resolve_wavelengths",
    "check_wavelength_grid",
]

# A number with an optional decimal part; the *last* number in a column name is
# its wavelength, so prefixes such as ``scan_visnir.`` or ``B2_`` do not matter.
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def parse_wavelengths(columns):
    """Read the spectral axis from column names.

    Parameters
    ----------
    columns : sequence of str or numbers
        Column names such as ``"wl_450"``, ``"450"``, ``"450.5"``,
        ``"spc.450"``, ``"scan_visnir.450_ref"`` or ``"wn_5397.9"``.
        Numbers are taken as they are.

    Returns
    -------
    wavelengths : ndarray of shape (n_columns,), dtype float64
        The last number found in each column name.

    Raises
    ------
    ValueError
        If a column name holds no number; the message names the column.

    Examples
    --------
    >>> from sklearn_soilspec.preprocessing import parse_wavelengths
    >>> parse_wavelengths(["wl_450", "451.5", "scan_visnir.452_ref"])
    array([450. , 451.5, 452. ])
    """
    out = np.empty(len(columns), dtype=np.float64)
    for i, col in enumerate(columns):
        if isinstance(col, (int, float, np.integer, np.floating)) and not isinstance(
            col, bool
        ):
            out[i] = float(col)
            continue
        found = _NUMBER.findall(str(col))
        if not found:
            raise ValueError(
                f"Cannot read a wavelength from column {col!r}: spectral columns must "
                "be named by their wavelength or wavenumber (e.g. '450', 'wl_450', "
                "'scan_visnir.450_ref'), or pass `wavelengths=` explicitly."
            )
        out[i] = float(found[-1])
    return out


def format_wavelengths(wavelengths, prefix=""):
    """Column names for a spectral axis: the shortest exact decimal form.

    Parameters
    ----------
    wavelengths : array-like of shape (n_wavelengths,)
        The axis values.
    prefix : str, default=""
        Put before each value, e.g. ``"wl_"``.

    Returns
    -------
    names : ndarray of str, shape (n_wavelengths,)

    Examples
    --------
    >>> from sklearn_soilspec.preprocessing import format_wavelengths
    >>> format_wavelengths([450.0, 452.5]).tolist()
    ['450', '452.5']
    """
    wl = np.asarray(wavelengths, dtype=np.float64).ravel()
    return np.asarray([f"{prefix}{w:.10g}" for w in wl], dtype=object)


def resolve_wavelengths(wavelengths=None, feature_names=None, n_features=None, required=True):
    """Find the spectral axis of the data a transformer is fitted on.

    The explicit ``wavelengths`` parameter wins; otherwise the axis is read
    from the feature names a DataFrame carried (``feature_names_in_``).

    Parameters
    ----------
    wavelengths : array-like of shape (n_features,) or None
        Axis given by the user.
    feature_names : array-like of str or None
        Column names seen in ``fit``.
    n_features : int or None
        Number of columns of the data; checked against the axis length.
    required : bool, default=True
        If False and no axis can be found, ``None`` is returned instead of
        raising (transformers that only need the sample index order).

    Returns
    -------
    wavelengths : ndarray of shape (n_features,) or None

    Examples
    --------
    >>> from sklearn_soilspec.preprocessing import resolve_wavelengths
    >>> resolve_wavelengths(feature_names=["wl_400", "wl_402"], n_features=2)
    array([400., 402.])
    >>> resolve_wavelengths([400, 402, 404], n_features=2)
    Traceback (most recent call last):
    ...
    ValueError: Wrong wavelength count: `wavelengths` gives 3 wavelengths but X has 2 columns.
    """
    if wavelengths is not None:
        wl = np.asarray(wavelengths, dtype=np.float64).ravel()
        source = "`wavelengths`"
    elif feature_names is not None:
        try:
            wl = parse_wavelengths(list(feature_names))
        except ValueError:
            if required:
                raise
            return None
        source = "the column names"
    else:
        if required:
            raise ValueError(
                "This transformer needs the spectral axis: pass a DataFrame whose "
                "columns are named by wavelength (e.g. 'wl_450'), or set "
                "`wavelengths=` to an array with one value per column."
            )
        return None
    if n_features is not None and wl.shape[0] != n_features:
        raise ValueError(
            f"Wrong wavelength count: {source} gives {wl.shape[0]} wavelengths but "
            f"X has {n_features} columns."
        )
    if not np.all(np.isfinite(wl)):
        raise ValueError(f"The wavelengths read from {source} contain NaN or inf.")
    return wl


def check_wavelength_grid(wavelengths, name="wavelengths"):
    """Check that an axis is strictly monotonic and return it ascending.

    Parameters
    ----------
    wavelengths : array-like of shape (n,)
    name : str
        Used in the error message.

    Returns
    -------
    wavelengths : ndarray
        The axis as given.
    order : ndarray of int
        Index that sorts the axis ascending (MIR wavenumbers are often
        stored descending).

    Raises
    ------
    ValueError
        If the axis has repeated values or is not monotonic.

    Examples
    --------
    >>> from sklearn_soilspec.preprocessing import check_wavelength_grid
    >>> wl, order = check_wavelength_grid([4000.0, 3996.0, 3992.0])
    >>> wl[order]
    array([3992., 3996., 4000.])
    """
    wl = np.asarray(wavelengths, dtype=np.float64).ravel()
    if wl.size >= 2:
        d = np.diff(wl)
        if not (np.all(d > 0) or np.all(d < 0)):
            raise ValueError(
                f"{name} must be strictly increasing or strictly decreasing; "
                "found repeated or unordered values."
            )
    order = np.argsort(wl, kind="stable")
    return wl, order
