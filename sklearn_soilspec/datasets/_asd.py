"""ASD files (FieldSpec, LabSpec, HandHeld): one binary file per vis-NIR scan."""

import contextlib
import functools
import logging
import re
import sys
import threading
import warnings

import numpy as np

from ._instruments import (
    Scan,
    UnreadableFile,
    build_library,
    check_loader_args,
    count,
    read_scan_files,
)

__all__ = ["load_asd"]

_ASD_NAME = re.compile(r"\.asd$", re.IGNORECASE)
# Version 1 files start with "ASD", later ones with "as2" ... "as8".
_MAGIC = re.compile(rb"^(ASD|as[2-8])")
_IMPORT_LOCK = threading.Lock()
_RAW_CHOICES = ("white_reference", "refuse")


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def _asd_file_class():
    """pyASDReader's ASDFile, imported without its logging side effects.

    On import, pyASDReader 1.2 opens ``asd_reader_<time>.log`` in the current
    folder and configures the root logger with it; a library must leave both
    the user's folder and logging alone, so the two calls are disabled for
    the import only.
    """
    module = sys.modules.get("pyASDReader.asd_file_reader")
    if module is not None:
        return module.ASDFile
    with _IMPORT_LOCK:
        file_handler, basic_config = logging.FileHandler, logging.basicConfig
        logging.FileHandler = lambda *args, **kwargs: logging.NullHandler()
        logging.basicConfig = lambda *args, **kwargs: None
        try:
            from pyASDReader import ASDFile
        except ImportError as exc:
            raise ImportError(
                "load_asd needs pyASDReader to read ASD files: pip install "
                "'sklearn-soilspec[asd]' (or pip install 'pyasdreader>=1.2')."
            ) from exc
        finally:
            logging.FileHandler, logging.basicConfig = file_handler, basic_config
    return ASDFile


@contextlib.contextmanager
def _library_log():
    """Collect pyASDReader's log records instead of letting them reach stderr.

    It logs an error for sections it cannot parse (the audit log of version 8
    files) even when the spectra read fine; the records explain a file that
    gives no spectrum.
    """
    logger = logging.getLogger("pyASDReader")
    handler, propagate = _Records(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _first_error(records):
    for r in records:
        text = r.getMessage().strip().splitlines()
        if text:
            return f": {text[0]}"
    return ""


def _read_one(path, raw, ASDFile):
    try:
        with open(path, "rb") as fh:
            head = fh.read(3)
    except OSError as exc:
        raise UnreadableFile(f"cannot open it ({exc.strerror})") from None
    if not _MAGIC.match(head):
        raise UnreadableFile("not an ASD file (it does not start with 'ASD' or 'as2'-'as8')")
    with _library_log() as records:
        try:
            f = ASDFile(path)
        except Exception as exc:  # a parser of binary sections may raise anything
            raise UnreadableFile(f"pyASDReader cannot parse it ({type(exc).__name__}: "
                                 f"{exc})") from None
    meta = f.metadata
    spectrum = None if f.spectrumData is None else f.spectrumData.spectra
    if meta is None or spectrum is None or f.wavelengths is None:
        raise UnreadableFile(f"pyASDReader reads no spectrum from it{_first_error(records)}; "
                             "the file may be truncated")
    dtype = meta.dataType.name.replace("dt_", "").replace("_TYPE", "")
    fmt = meta.dataFormat.name.replace("df_", "")
    if fmt != "DOUBLE":
        # pyASDReader 1.2 unpacks every spectrum as doubles.
        raise UnreadableFile(f"its spectra are stored as {fmt}, which pyASDReader 1.2 does "
                             "not read correctly (doubles only)")
    if dtype not in ("REF", "RAW"):
        raise UnreadableFile(
            f"it holds {dtype} data; only reflectance (REF) files, or raw DN with a white "
            "reference, are read. Export reflectance in ViewSpec Pro")
    if dtype == "RAW" and raw == "refuse":
        raise UnreadableFile(
            "it holds raw DN (data type RAW); pass raw='white_reference' to divide by the "
            "white reference stored in the file")
    ref = None if f.referenceData is None else f.referenceData.spectra
    has_ref = (ref is not None and f.referenceFileHeader is not None
               and f.referenceFileHeader.referenceFlag and np.any(np.asarray(ref) != 0))
    if not has_ref:
        raise UnreadableFile(
            f"it holds {dtype} data without a white reference, and reflectance needs one; "
            "export reflectance in ViewSpec Pro")
    dn, ref = np.asarray(spectrum, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    wl = np.asarray(f.wavelengths, dtype=np.float64)
    if not dn.shape == ref.shape == wl.shape:
        raise UnreadableFile(f"it holds {dn.size} values, {ref.size} reference values and "
                             f"{wl.size} wavelengths")
    zero = ref == 0
    if zero.any():
        raise UnreadableFile(f"its white reference is zero at {int(zero.sum())} channels")
    # Reflectance = DN / white reference, what pyASDReader's `reflectance`
    # computes for REF files (its integration-time and gain scaling is the
    # same for both and cancels), here for RAW files too.
    values = dn / ref
    if not np.all(np.isfinite(values)):
        raise UnreadableFile("its reflectance holds non-finite values")
    instrument = (f"ASD {meta.instrument.name.replace('_INSTRUMENT', '')} "
                  f"(serial {meta.instrumentNum})")
    scan = Scan(path=path, axis=wl, values=values, unit="nm", measurement="reflectance",
                instrument=instrument, source=f"{dtype} data", when=meta.when_datetime)
    if dtype == "RAW":
        scan.remarks.append("raw DN / white reference")
    if meta.flags2:
        scan.remarks.append("saturated: " + ", ".join(e.name for e in meta.flags2))
    return scan


def load_asd(
    path,
    lab=None,
    *,
    sample_id=None,
    id_column="sample_id",
    target_columns=None,
    group_column=None,
    raw="white_reference",
    axis=None,
    measurement=None,
    replicate_tolerance=0.1,
    on_error="warn",
    bad_values="raise",
    sep=",",
    as_frame=True,
    return_scans=False,
):
    """Load ASD vis-NIR files (one scan per file) into a spectral library.

    Reads the files with `pyASDReader <https://github.com/KaiTastic/pyASDReader>`_
    (``pip install 'sklearn-soilspec[asd]'``), turns them into reflectance,
    averages the replicate scans of each sample and, with a lab table, joins
    the soil properties. Nothing is left out silently: every file not read,
    sample without lab values and lab row without scans is named in a warning
    and counted in ``conversions``.

    An ASD file stores the sample's digital numbers (DN) and the last white
    reference; its data type says what the instrument showed. Reflectance
    (REF) files give ``DN / white reference``. Raw (RAW) files, which many
    laboratories save (the KSSL LabSpec scans are RAW), give the same ratio
    with the white reference stored in the file, noted in ``conversions``
    (``raw="refuse"`` skips them instead). A raw file without a white
    reference, and radiance, irradiance or transmittance files, are not read:
    reflectance cannot be computed from them.

    Parameters
    ----------
    path : str, path-like or list of them
        A folder (its ``*.asd`` files; others are noted and skipped), a glob,
        one file or a list of files.
    lab : str, path-like or DataFrame, default=None
        Lab results, one row per sample (CSV or DataFrame), sample ids in
        ``id_column``, properties as numeric columns. Without it the library
        holds the spectra alone (``Y`` of shape ``(n_samples, 0)``).
    sample_id : None, str or callable, default=None
        How a file name gives its sample id. ``None``: the name without
        ``.asd`` and without a trailing replicate counter ``_1``/``-2`` (one
        or two digits). A string is a regular expression with one group,
        searched in the file name (ViewSpec's five-digit counter:
        ``r"^(.+?)\\d{5}\\.asd$"``); a callable gets the name, returns the id.
    id_column : str, default="sample_id"
        Column of ``lab`` holding the sample ids (compared as text).
    target_columns : list of str, default=None
        Properties to read; default every numeric column of ``lab`` other
        than ``id_column`` and ``group_column``.
    group_column : str, default=None
        Column of ``lab`` with the domain of each sample; default ``"all"``.
    raw : {"white_reference", "refuse"}, default="white_reference"
        What to do with raw-DN files: divide by their stored white reference,
        or skip them as unreadable.
    axis : array-like, default=None
        Wavelengths (nm) to put every spectrum on; default the grid most
        files share (the first of them on a tie).
        A file whose range does not cover it (a 325-1075 nm HandHeld scan
        among 350-2500 nm ones) is an error.
    measurement : {None, "absorbance", "reflectance"}, default=None
        ``None`` keeps reflectance; ``"absorbance"`` converts to
        ``log10(1/R)`` (refused when a reflectance is <= 0).
    replicate_tolerance : float, default=0.1
        Replicates straying from their sample's mean by more than this share
        of the mean spectrum's range are named in a warning (still averaged).
    on_error : {"warn", "raise"}, default="warn"
        A missing or unreadable file: skipped with a warning, or an error.
    bad_values : {"raise", "nan"}, default="raise"
        A lab cell that is no number: an error, or missing with a warning.
    sep : str, default=","
        Field separator of the lab CSV.
    as_frame : bool, default=True
        ``X`` and ``Y`` as DataFrames indexed by sample id.
    return_scans : bool, default=False
        Also return a DataFrame with one row per file (sample id,
        instrument and serial number, data type, date, read or why not,
        scans averaged into its sample and their deviation).

    Returns
    -------
    library : SpectralLibrary
        ``unit="nm"``, ``measurement="reflectance"`` unless converted, one
        row per sample.
    scans : DataFrame
        Only with ``return_scans=True``.

    Raises
    ------
    FileNotFoundError
        If ``path`` names no file.
    ValueError
        If no file can be read, the axes cannot share one, or no sample id
        matches the lab table.
    ImportError
        If pyASDReader is not installed.

    See Also
    --------
    load_opus : The same for Bruker OPUS MIR files.

    Examples
    --------
    ``load_asd("scans/", lab="lab.csv")`` reads every ``*.asd`` file of
    ``scans/`` and the properties of ``lab.csv``; the user guide page on
    readers shows it on real files. A folder without ASD files is an error:

    >>> import tempfile
    >>> from sklearn_soilspec.datasets import load_asd
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     load_asd(folder)
    Traceback (most recent call last):
    ...
    FileNotFoundError: No ASD files in folder '...' (it is empty). ...
    """
    check_loader_args(on_error, replicate_tolerance, measurement)
    if raw not in _RAW_CHOICES:
        raise ValueError(f"raw must be one of {_RAW_CHOICES}, got {raw!r}.")
    scans, problems, notes = read_scan_files(
        path, _ASD_NAME, "ASD",
        lambda: functools.partial(_read_one, raw=raw, ASDFile=_asd_file_class()),
        sample_id=sample_id, on_error=on_error)
    raw_scans = [s for s in scans if "raw DN / white reference" in s.remarks]
    if raw_scans:
        notes.append(f"{count(len(raw_scans), 'raw-DN file')} (data type RAW): reflectance = "
                     "DN / the white reference stored in the file.")
    saturated = [s for s in scans if any(r.startswith("saturated") for r in s.remarks)]
    if saturated:
        msg = (f"{count(len(saturated), 'ASD file')} flag detector saturation or a TEC alarm: "
               + ", ".join(s.path for s in saturated[:5]) + "; they were read as they are.")
        warnings.warn(msg, UserWarning, stacklevel=2)
        notes.append(msg)
    return build_library(
        scans, problems, notes, what="ASD", lab=lab, id_column=id_column,
        target_columns=target_columns, group_column=group_column, axis=axis,
        measurement=measurement, replicate_tolerance=replicate_tolerance, sep=sep,
        bad_values=bad_values, as_frame=as_frame, return_scans=return_scans)
