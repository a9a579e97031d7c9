"""Bruker OPUS files (Alpha, Tensor, Vertex, Invenio): one binary file per scan."""

import functools
import os
import re

import numpy as np

from ._instruments import (
    Scan,
    UnreadableFile,
    build_library,
    check_loader_args,
    count,
    few,
    read_scan_files,
)

__all__ = ["load_opus"]

# OPUS numbers the files of one sample name in the extension: soil.0, soil.1.
_OPUS_NAME = re.compile(r"\.\d+$")
# Result blocks a model can use, as brukeropus names them ("a_2" is a second
# absorbance block of the same file).
_MEASUREMENT_OF = {"a": "absorbance", "r": "reflectance"}
_OTHER_BLOCKS = {
    "sm": "single-channel sample spectrum", "rf": "single-channel reference spectrum",
    "igsm": "sample interferogram", "igrf": "reference interferogram",
    "phsm": "sample phase", "phrf": "reference phase", "t": "transmittance",
    "km": "Kubelka-Munk", "atr": "ATR", "logr": "log(reflectance)",
}


def _brukeropus():
    try:
        from brukeropus import read_opus
    except ImportError as exc:
        raise ImportError(
            "load_opus needs brukeropus to read OPUS files: pip install "
            "'sklearn-soilspec[opus]' (or pip install 'brukeropus>=1.4')."
        ) from exc
    return read_opus


def _base(key):
    return re.sub(r"_\d+$", "", key)


def _pick_block(keys, block, path):
    """The data block to read and a remark when there was a choice."""
    if block != "auto":
        if block not in keys:
            raise UnreadableFile(f"it has no block {block!r} (its blocks: {keys})")
        return block, None
    for kind in ("a", "r"):
        found = [k for k in keys if _base(k) == kind]
        if found:
            remark = (f"{len(found)} {_MEASUREMENT_OF[kind]} blocks ({', '.join(found)}), "
                      f"the first read" if len(found) > 1 else None)
            return found[0], remark
    raise UnreadableFile(
        f"it holds no absorbance (a) or reflectance (r) block, only {keys}; compute the "
        "absorbance in OPUS first")


def _read_one(path, block, read_opus):
    try:
        f = read_opus(path)
    except Exception as exc:  # brukeropus raises many types on broken files
        raise UnreadableFile(
            f"brukeropus cannot parse it ({type(exc).__name__}: {exc}); the file may be "
            "truncated") from None
    if not f:
        raise UnreadableFile("not an OPUS file (no OPUS header)")
    keys = list(f.data_keys)
    key, remark = _pick_block(keys, block, path)
    kind = _base(key)
    if kind not in _MEASUREMENT_OF:
        what = _OTHER_BLOCKS.get(kind, "not a spectrum a model can use")
        raise ValueError(
            f"block={block!r} is a {what}; only absorbance ('a', 'a_2', ...) and reflectance "
            "('r') blocks are read. Use block='auto' or one of those.")
    data = getattr(f, key)
    dxu = getattr(data.params, "dxu", None)
    if dxu != "WN":
        raise UnreadableFile(f"block {key!r} has x unit {dxu!r}, not wavenumbers (WN)")
    y = np.asarray(data.y, dtype=np.float64)
    x = np.asarray(data.x, dtype=np.float64)
    if y.size < 2 or y.shape != x.shape:
        raise UnreadableFile(f"block {key!r} holds {y.size} values for {x.size} wavenumbers")
    if not np.all(np.isfinite(y)):
        raise UnreadableFile(f"block {key!r} holds {int((~np.isfinite(y)).sum())} "
                             "non-finite values")
    scan = Scan(path=path, axis=x, values=y, unit="cm-1", measurement=_MEASUREMENT_OF[kind],
                instrument=str(f.ins or "unknown instrument"), source=f"block {key}",
                when=data.datetime)
    if remark:
        scan.remarks.append(remark)
    return scan


def load_opus(
    path,
    lab=None,
    *,
    sample_id=None,
    id_column="sample_id",
    target_columns=None,
    group_column=None,
    block="auto",
    axis=None,
    measurement=None,
    replicate_tolerance=0.1,
    on_error="warn",
    bad_values="raise",
    sep=",",
    as_frame=True,
    return_scans=False,
):
    """Load Bruker OPUS files (one scan per file) into a spectral library.

    Reads the files with `brukeropus <https://github.com/joshduran/brukeropus>`_
    (``pip install 'sklearn-soilspec[opus]'``), averages the replicate scans
    of each sample and, with a lab table, joins the soil properties. Nothing
    is left out silently: every file not read, sample without lab values and
    lab row without scans is named in a warning and counted in
    ``conversions``.

    Parameters
    ----------
    path : str, path-like or list of them
        A folder (its files named like OPUS files, ``name.0``, ``name.1``;
        others are noted and skipped), a glob (``"scans/*.0"``), one file or a
        list of files.
    lab : str, path-like or DataFrame, default=None
        Lab results, one row per sample: a CSV file (read with pandas) or a
        DataFrame with the sample ids in ``id_column`` and properties as
        numeric columns. Without it the library holds the spectra alone (no
        targets, ``Y`` of shape ``(n_samples, 0)``), ready for ``predict``.
    sample_id : None, str or callable, default=None
        How a file name gives its sample id. ``None``: the name without its
        extension and without a trailing replicate counter ``_1``/``-2``
        (one or two digits), so ``soil.0``, ``soil.1`` and ``soil_2.0`` are
        scans of ``soil``. A string is a regular expression with one group
        searched in the file name (``r"^(\\d+)XS"`` gives ``235157`` for
        ``235157XS01.0``); a callable gets the file name and returns the id.
    id_column : str, default="sample_id"
        Column of ``lab`` holding the sample ids (compared as text).
    target_columns : list of str, default=None
        Properties to read; default every column of ``lab`` other than
        ``id_column`` and ``group_column`` that holds numbers (negative values
        and ``"< LOD"`` read as missing, as in
        :func:`~sklearn_soilspec.datasets.load_spectral_csv`).
    group_column : str, default=None
        Column of ``lab`` with the domain of each sample (site, field);
        default one domain ``"all"``.
    block : str, default="auto"
        The data block to read. ``"auto"`` reads the absorbance block
        (``a``; of several, ``a``, ``a_2``, the first, with a note) and, in
        files without one, the reflectance block (``r``). ``"a"``, ``"a_2"``
        or ``"r"`` read that block.
    axis : array-like, default=None
        Wavenumbers to put every spectrum on; default the grid most files
        share (the first of them on a tie), kept as the files give it
        (usually descending). Files on a slightly different grid (another
        Alpha) are interpolated linearly, with a note; files whose range does
        not cover the axis, or with a spacing more than twice as coarse or
        fine, are an error.
    measurement : {None, "absorbance", "reflectance"}, default=None
        ``None`` keeps what the files hold (all must hold the same);
        otherwise the spectra are converted to it (``log10(1/R)``), noted.
    replicate_tolerance : float, default=0.1
        Replicates of a sample whose largest distance from the sample's mean
        spectrum exceeds this share of the mean spectrum's range are named in
        a warning and in ``conversions`` (they are still averaged).
    on_error : {"warn", "raise"}, default="warn"
        A missing or unreadable file (not OPUS, truncated, no usable block,
        a name ``sample_id`` does not match): skipped with a warning, or an
        error.
    bad_values : {"raise", "nan"}, default="raise"
        A lab cell that is no number: an error, or missing with a warning.
    sep : str, default=","
        Field separator of the lab CSV.
    as_frame : bool, default=True
        ``X`` and ``Y`` as DataFrames indexed by sample id.
    return_scans : bool, default=False
        Also return a DataFrame with one row per file: its sample id,
        instrument, block, date, whether it was read (and why not), the
        number of scans averaged into its sample and their deviation.

    Returns
    -------
    library : SpectralLibrary
        ``unit="cm-1"``, ``measurement`` from the block read, one row per
        sample. ``conversions`` notes the replicates averaged, files
        interpolated, skipped or from other instruments, and the lab join.
    scans : DataFrame
        Only with ``return_scans=True``.

    Raises
    ------
    FileNotFoundError
        If ``path`` names no file.
    ValueError
        If no file can be read, the files hold different measurements or axes
        that cannot share one, or no sample id matches the lab table.
    ImportError
        If brukeropus is not installed.

    See Also
    --------
    load_asd : The same for ASD vis-NIR files.

    Examples
    --------
    ``load_opus("scans/", lab="lab.csv")`` reads every ``*.0``, ``*.1``, ...
    file of ``scans/`` and the properties of ``lab.csv``; the user guide page
    on readers shows it on real files. A path that names nothing is an error:

    >>> from sklearn_soilspec.datasets import load_opus
    >>> load_opus("no-such-folder/")
    Traceback (most recent call last):
    ...
    FileNotFoundError: No such file or folder: 'no-such-folder/'.
    """
    check_loader_args(on_error, replicate_tolerance, measurement)
    if not isinstance(block, str):
        raise ValueError(f"block must be 'auto' or a block name ('a', 'a_2', 'r'), got {block!r}.")
    scans, problems, notes = read_scan_files(
        path, _OPUS_NAME, "OPUS",
        lambda: functools.partial(_read_one, block=block, read_opus=_brukeropus()),
        sample_id=sample_id, on_error=on_error)
    several = [(s, r) for s in scans for r in s.remarks if r.endswith("the first read")]
    if several:
        shown = few(f"{os.path.basename(s.path)}: {r.replace(', the first read', '')}"
                    for s, r in several)
        notes.append(f"{count(len(several), 'file')} with several blocks of one kind; the "
                     f"first was read: {shown}.")
    return build_library(
        scans, problems, notes, what="OPUS", lab=lab, id_column=id_column,
        target_columns=target_columns, group_column=group_column, axis=axis,
        measurement=measurement, replicate_tolerance=replicate_tolerance, sep=sep,
        bad_values=bad_values, as_frame=as_frame, return_scans=return_scans)
