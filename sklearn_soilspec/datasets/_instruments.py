"""What the instrument-file readers share: one scan per file to one library.

An instrument writes one file per scan, replicate scans of a sample under
names that differ by a counter, and the laboratory keeps its results in a
separate table keyed by sample id. This module finds the files, names the
sample of each, puts the scans on one axis, averages the replicates (and says
which disagree) and joins the lab table. Nothing is dropped without a
warning and a count in the library's ``conversions`` notes.
"""

import glob
import os
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..preprocessing._resample import resample_spectra
from ._common import clean_property, convert_measurement, parse_property, read_header
from ._library import SpectralLibrary

# A trailing replicate counter after "_" or "-" ("soil_1", "soil-02"); one or
# two digits only, so that ids such as "plot_2024" keep their number.
_REPLICATE_SUFFIX = re.compile(r"[_-]\d{1,2}$")
_GLOB_CHARS = re.compile(r"[*?\[]")
# Two grids are the same when no point moves by more than this share of a step.
_SAME_AXIS = 1e-3
# Interpolating between grids whose spacings differ more than this factor
# invents (or throws away) detail: such files are refused instead.
_MAX_SPACING_RATIO = 2.0


class UnreadableFile(ValueError):
    """A file that cannot give a spectrum; the message says why."""


@dataclass
class Scan:
    """One file's spectrum, as the reader found it."""

    path: str
    axis: np.ndarray
    values: np.ndarray
    unit: str
    measurement: str
    instrument: str
    source: str
    when: object = None
    sample_id: str = None
    remarks: list = field(default_factory=list)


def few(items, k=5):
    """``'a', 'b', ... (12 in all)``: a short list for a message."""
    items = [str(i) for i in items]
    shown = ", ".join(items[:k])
    return shown + (f", ... ({len(items)} in all)" if len(items) > k else "")


def count(n, word):
    """``'1 file'``, ``'3 files'``: a count for a message."""
    n = int(n)
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def default_sample_id(name):
    """The sample id of a file name: the stem without a replicate counter.

    ``icr056141.0`` and ``icr056141.1`` (OPUS numbers repeated scans in the
    extension), ``soil_1.asd`` and ``soil-2.asd`` name samples ``icr056141``
    and ``soil``.
    """
    stem = os.path.splitext(os.path.basename(name))[0]
    return _REPLICATE_SUFFIX.sub("", stem) or stem


def sample_id_rule(sample_id):
    """A function of the file name from the ``sample_id`` parameter.

    ``None`` gives :func:`default_sample_id`; a string is a regular expression
    with one group, searched in the file name (extension included), the group
    being the id; a callable is called with the file name.
    """
    if sample_id is None:
        return default_sample_id
    if callable(sample_id):
        def call(name):
            out = sample_id(name)
            if out is None or str(out).strip() == "":
                raise UnreadableFile(f"sample_id={sample_id!r} gives no id for this name")
            return str(out).strip()
        return call
    if isinstance(sample_id, str):
        try:
            pattern = re.compile(sample_id)
        except re.error as exc:
            raise ValueError(f"sample_id={sample_id!r} is not a valid regular expression: "
                             f"{exc}.") from None
        if pattern.groups != 1:
            raise ValueError(
                f"sample_id={sample_id!r} has {pattern.groups} groups; it needs exactly one, "
                r"the sample id, e.g. r'^(\w+?)_\d+\.0$'.")

        def search(name):
            m = pattern.search(name)
            if m is None or not m.group(1):
                raise UnreadableFile(f"its name does not match sample_id={sample_id!r}")
            return m.group(1)
        return search
    raise ValueError(
        f"sample_id must be None, a regular expression with one group or a callable, got "
        f"{type(sample_id).__name__}.")


def list_scan_files(path, name_pattern, what):
    """The files to read and the notes about what was left aside.

    Returns ``(files, missing, notes)``: ``missing`` the given files that do
    not exist (a list or a single path); a folder gives the files whose names
    match ``name_pattern``, others are counted in ``notes``.
    """
    notes, missing = [], []
    if isinstance(path, (list, tuple)):
        if not path:
            raise ValueError("path is an empty list; give at least one file.")
        files = []
        for p in path:
            p = os.fspath(p)
            (files if os.path.isfile(p) else missing).append(p)
        return files, missing, notes
    path = os.fspath(path)
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if os.path.isfile(os.path.join(path, n)))
        files = [os.path.join(path, n) for n in names if name_pattern.search(n)]
        others = [n for n in names if not name_pattern.search(n)]
        if not files:
            raise FileNotFoundError(
                f"No {what} files in folder {path!r}"
                + (f"; it holds {count(len(others), 'other file')} ({few(others, 3)})"
                   if others else " (it is empty)")
                + ". Give the folder of the scans, a glob or the files.")
        if others:
            notes.append(f"{count(len(others), 'file')} in {path!r} not named like {what} files "
                         f"not read: {few(others)}.")
        return files, missing, notes
    if _GLOB_CHARS.search(path) and not os.path.exists(path):
        files = sorted(p for p in glob.glob(path) if os.path.isfile(p))
        if not files:
            raise FileNotFoundError(f"No files match {path!r}.")
        return files, missing, notes
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file or folder: {path!r}.")
    return [path], missing, notes


def check_loader_args(on_error, replicate_tolerance, measurement):
    if on_error not in ("warn", "raise"):
        raise ValueError(f"on_error must be 'warn' or 'raise', got {on_error!r}.")
    if not (isinstance(replicate_tolerance, (int, float)) and replicate_tolerance > 0):
        raise ValueError(
            f"replicate_tolerance must be a positive number (a share of the spectrum's "
            f"range, e.g. 0.1), got {replicate_tolerance!r}.")
    if measurement not in (None, "absorbance", "reflectance"):
        raise ValueError(f"measurement must be None (as recorded), 'absorbance' or "
                         f"'reflectance', got {measurement!r}.")


def read_scans(files, missing, read_one, rule, on_error, what):
    """Read every file; unreadable ones are an error or a problem to report."""
    scans = []
    problems = [(p, "missing: no such file") for p in missing]
    for p in files:
        try:
            scan = read_one(p)
            scan.sample_id = rule(os.path.basename(p))
        except UnreadableFile as exc:
            problems.append((p, str(exc)))
        else:
            scans.append(scan)
    if problems and on_error == "raise":
        p, why = problems[0]
        raise ValueError(
            f"Cannot read {p!r} as a {what} file: {why}"
            + (f" ({count(len(problems), 'file')} with problems)" if len(problems) > 1 else "")
            + ". Remove it, or pass on_error='warn' to skip such files with a warning.")
    if not scans:
        raise ValueError(
            f"None of the {len(problems)} files could be read as {what} files: "
            + "; ".join(f"{os.path.basename(p)}: {why}" for p, why in problems[:3])
            + ("; ..." if len(problems) > 3 else "") + ".")
    return scans, problems


def read_scan_files(path, name_pattern, what, open_reader, *, sample_id, on_error):
    """The files of ``path`` read into scans: ``(scans, problems, notes)``.

    The steps every instrument loader shares: the sample id rule checked, the
    files listed (:func:`list_scan_files`), then each read by the function
    ``open_reader()`` returns (a file's path to its :class:`Scan`). The reader
    is opened only once the files are listed, so that a path naming nothing
    is said before a missing optional package (imported there) is.
    """
    rule = sample_id_rule(sample_id)
    files, missing, notes = list_scan_files(path, name_pattern, what)
    scans, problems = read_scans(files, missing, open_reader(), rule, on_error, what)
    return scans, problems, notes


def _grid_note(axis, unit):
    return f"{axis[0]:g} -> {axis[-1]:g} {unit} ({axis.size} points)"


def _spacing(a):
    return float(np.median(np.abs(np.diff(a)))) if a.size > 1 else 0.0


def _same_grid(a, b):
    if a.shape != b.shape:
        return False
    step = _spacing(a) or 1.0
    return bool(np.max(np.abs(a - b)) <= _SAME_AXIS * step)


def _fits(src, target):
    """Why ``src`` cannot be interpolated onto ``target`` (None when it can)."""
    half = _spacing(src) / 2
    if target.min() < src.min() - half or target.max() > src.max() + half:
        return "range"
    ratio = _spacing(src) / max(_spacing(target), 1e-12)
    if not 1 / _MAX_SPACING_RATIO <= ratio <= _MAX_SPACING_RATIO:
        return "spacing"
    return None


def _most_common_grid(scans):
    """The first scan on the grid most scans share, so that errors name the odd ones."""
    keys = [(s.axis.size, round(float(s.axis[0]), 3), round(float(s.axis[-1]), 3))
            for s in scans]
    counts = pd.Series(keys).value_counts(sort=False)
    return scans[keys.index(counts.index[int(np.argmax(counts.to_numpy()))])]


def to_one_axis(scans, axis, notes):
    """Put every scan on ``axis`` (default the grid most scans share), or refuse.

    Scans on the same grid are taken as they are; a grid that covers the
    target (to half a step) with a similar spacing is interpolated linearly
    (instruments of one model differ by a fraction of a point); any other is
    an error naming the files, since extrapolating or resampling far would
    make spectra up.
    """
    units = sorted({s.unit for s in scans})
    if len(units) > 1:
        raise ValueError(f"The files hold spectra in different units ({units}); load the "
                         "vis-NIR and MIR files separately.")
    unit = units[0]
    given = axis is not None
    first = _most_common_grid(scans)
    target = (np.asarray(axis, dtype=np.float64).ravel() if given
              else np.asarray(first.axis, dtype=np.float64))
    if target.size < 2 or not np.all(np.isfinite(target)):
        raise ValueError("axis must hold at least two finite values.")
    bad, moved = [], []
    for s in scans:
        if _same_grid(s.axis, target):
            s.axis = target
            continue
        why = _fits(s.axis, target)
        if why:
            bad.append((s, why))
            continue
        half = _spacing(s.axis) / 2
        s.values = resample_spectra(s.values[None, :], s.axis, target, tolerance=half)[0]
        s.axis = target
        s.remarks.append("interpolated")
        moved.append(s)
    ref = "the axis given" if given else f"the axis of {os.path.basename(first.path)}"
    if bad:
        shown = "; ".join(f"{os.path.basename(s.path)}: {_grid_note(s.axis, unit)}"
                          f"{' (spacing too different)' if why == 'spacing' else ''}"
                          for s, why in bad[:3])
        raise ValueError(
            f"Mixed axes: {len(bad)} of {len(scans)} files cannot be put on {ref}, "
            f"{_grid_note(target, unit)}, without extrapolating or resampling far ({shown}"
            f"{'; ...' if len(bad) > 3 else ''}). Load each instrument's files separately, "
            "or pass axis= a grid that lies inside every file's range.")
    if moved:
        names = few(os.path.basename(s.path) for s in moved)
        notes.append(f"{len(moved)} of {count(len(scans), 'scan')} linearly interpolated onto "
                     f"{ref}, {_grid_note(target, unit)}: {names}.")
    return target, unit


def _one_measurement(scans, measurement, notes, what):
    found = pd.Series([s.measurement for s in scans]).value_counts()
    if measurement is None:
        if len(found) > 1:
            odd = [os.path.basename(s.path) for s in scans if s.measurement != found.index[0]]
            raise ValueError(
                f"The {what} files hold different measurements ("
                + ", ".join(f"{n} {m}" for m, n in found.items())
                + f"; e.g. {few(odd, 3)}); pass measurement='absorbance' or 'reflectance' to "
                "convert them to one.")
        return found.index[0]
    done = {}
    for s in scans:
        if s.measurement != measurement:
            conv = []
            s.values = np.asarray(convert_measurement(
                s.values[None, :], s.axis, s.measurement, measurement, conv, s.path))[0]
            for c in conv:
                done[c] = done.get(c, 0) + 1
            s.measurement = measurement
    notes.extend(f"{count(n, 'scan')}: {c}" for c, n in done.items())
    return measurement


def read_lab_table(lab, id_column, target_columns, group_column, sep, bad_values, notes):
    """The lab table as float targets indexed by sample id, and the groups."""
    if isinstance(lab, pd.DataFrame):
        name = "the lab table"
        df = lab.reset_index() if id_column not in lab.columns and lab.index.name == id_column \
            else lab.copy()
        cols = [str(c) for c in df.columns]
        df.columns = cols
    else:
        name = os.fspath(lab)
        if not os.path.isfile(name):
            raise FileNotFoundError(f"No such lab table: {name!r}.")
        cols = read_header(name, sep=sep)
        if id_column in cols:
            # All as text: ids keep leading zeros, and "n.d." or "< LOD" cells
            # are read by clean_property like those of the other loaders.
            try:
                df = pd.read_csv(name, sep=sep, dtype=str, keep_default_na=False)
            except (pd.errors.ParserError, UnicodeDecodeError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                raise ValueError(f"Cannot read the lab table {name!r} as CSV: {first}") from None
            df.columns = cols
    if id_column not in cols:
        raise ValueError(
            f"id_column={id_column!r} is not a column of {name!r}; its columns are "
            f"{few(cols, 8)}. Pass id_column= the column holding the sample ids.")
    for what, col in (("group_column", group_column),):
        if col is not None and col not in cols:
            raise ValueError(f"{what}={col!r} is not a column of {name!r}; it has {few(cols, 8)}.")
    ids = df[id_column].astype("string").str.strip()
    no_id = ids.isna() | (ids == "")
    if no_id.any():
        warnings.warn(f"{count(no_id.sum(), 'row')} of {name!r} without a sample id in column "
                      f"{id_column!r}: not used.", UserWarning, stacklevel=4)
        notes.append(f"Lab table: {count(no_id.sum(), 'row')} without a sample id not used.")
        df, ids = df[~no_id.to_numpy()], ids[~no_id]
    dup = ids[ids.duplicated()].unique().tolist()
    if dup:
        raise ValueError(
            f"Sample ids repeated in column {id_column!r} of {name!r}: {few(dup)}; the lab "
            "table needs one row per sample (average the repeated analyses first).")
    rest = [c for c in cols if c not in (id_column, group_column)]
    if target_columns is None:
        target_columns = []
        for c in rest:
            values, bad = parse_property(df[c].to_numpy())
            if bad.any() and not np.isfinite(values).any():
                notes.append(f"Lab table column {c!r} holds no numbers: not read as a property.")
                continue
            target_columns.append(c)
    else:
        target_columns = [target_columns] if isinstance(target_columns, str) \
            else list(target_columns)
        absent = [c for c in target_columns if c not in rest]
        if absent:
            raise ValueError(f"Target columns {absent} are not property columns of {name!r}; "
                             f"it has {few(rest, 8)}.")
    Y = pd.DataFrame(
        {c: clean_property(df[c].to_numpy(), name, c, bad_values=bad_values, first_line=2)
         for c in target_columns},
        index=pd.Index(ids.to_numpy(dtype=object), name="sample_id"), columns=target_columns)
    groups = (df[group_column].astype("string").fillna("unknown").to_numpy(dtype=object)
              if group_column else None)
    return Y, (None if groups is None else pd.Series(groups, index=Y.index)), name


def _deviation(stack, mean):
    """Largest distance of a replicate from the mean, as a share of its range."""
    span = float(np.max(mean) - np.min(mean))
    worst = float(np.max(np.abs(stack - mean)))
    return worst / span if span > 0 else (0.0 if worst == 0 else np.inf)


def average_scans(scans, tolerance, notes):
    """Mean spectrum per sample id, the scan counts and the deviations.

    Ids keep the order in which their first file was read. A sample whose
    replicates stray from their mean by more than ``tolerance`` times the
    mean spectrum's range is kept (averaged) but named in a warning.
    """
    order = list(dict.fromkeys(s.sample_id for s in scans))
    by_id = {i: [] for i in order}
    for s in scans:
        by_id[s.sample_id].append(s)
    X = np.empty((len(order), scans[0].axis.size), dtype=np.float32)
    counts = np.empty(len(order), dtype=int)
    deviation = np.full(len(order), np.nan)
    for k, i in enumerate(order):
        stack = np.vstack([s.values for s in by_id[i]]).astype(np.float64)
        mean = stack.mean(axis=0)
        X[k] = mean
        counts[k] = stack.shape[0]
        if stack.shape[0] > 1:
            deviation[k] = _deviation(stack, mean)
    several = counts > 1
    ids = np.array(order, dtype=object)
    if several.any():
        per = pd.Series(counts[several]).value_counts().sort_index()
        notes.append(
            f"Replicate scans averaged: {count(counts[several].sum(), 'scan')} of "
            f"{count(several.sum(), 'sample')} ("
            + ", ".join(f"{count(n, 'sample')} with {c} scans" for c, n in per.items())
            + f"): {few([f'{i} ({c})' for i, c in zip(ids[several], counts[several])], 10)}.")
    flagged = np.flatnonzero(deviation > tolerance)
    if flagged.size:
        shown = few([f"{order[k]} ({deviation[k]:.0%})" for k in flagged])
        msg = (f"{count(flagged.size, 'sample')} with replicate scans that disagree by more than "
               f"replicate_tolerance={tolerance:g} of the spectrum's range (largest deviation "
               f"from the sample mean): {shown}. They were averaged anyway; check for a "
               "mislabelled file or a bad scan.")
        warnings.warn(msg, UserWarning, stacklevel=4)
        notes.append(msg)
    return ids, X, counts, deviation, by_id


def _instrument_note(scans, notes):
    found = pd.Series([s.instrument for s in scans]).value_counts()
    if len(found) > 1:
        msg = ("The files come from " + str(len(found)) + " instruments ("
               + ", ".join(f"{i}: {count(n, 'file')}" for i, n in found.items())
               + "); spectra of different instruments differ systematically, so a model "
               "trained on one may not transfer to the other.")
        warnings.warn(msg, UserWarning, stacklevel=4)
        notes.append(msg)


def build_library(scans, problems, notes, *, what, lab, id_column, target_columns,
                  group_column, axis, measurement, replicate_tolerance, sep, bad_values,
                  as_frame, return_scans):
    """Scans (one per file) to a SpectralLibrary, reporting everything left out."""
    if problems:
        msg = (f"{len(problems)} of {len(problems) + len(scans)} {what} files not read: "
               + "; ".join(f"{os.path.basename(p)} ({why})" for p, why in problems[:5])
               + ("; ..." if len(problems) > 5 else "") + ".")
        warnings.warn(msg, UserWarning, stacklevel=3)
        notes.append(msg)
    out_measurement = _one_measurement(scans, measurement, notes, what)
    wavelengths, unit = to_one_axis(scans, axis, notes)
    _instrument_note(scans, notes)
    ids, X, counts, deviation, by_id = average_scans(scans, replicate_tolerance, notes)
    n = ids.size
    groups = np.full(n, "all", dtype=object)
    in_lab = np.full(n, False)
    if lab is not None:
        table, lab_groups, name = read_lab_table(lab, id_column, target_columns, group_column,
                                                 sep, bad_values, notes)
        in_lab = np.isin(ids.astype(str), table.index.astype(str))
        if not in_lab.any():
            raise ValueError(
                f"None of the {n} sample ids of the files (e.g. {few(ids, 3)}) is in column "
                f"{id_column!r} of {name!r} (e.g. {few(table.index, 3)}). Pass sample_id= a "
                "rule (regular expression or function) that turns the file names into the "
                "lab's ids, or id_column= the right column.")
        Y = table.reindex(ids.astype(str))
        unscanned = table.index[~table.index.isin(ids.astype(str))].tolist()
        if (~in_lab).any():
            msg = (f"{int((~in_lab).sum())} of {count(n, 'scanned sample')} without a row in "
                   f"{name!r}: {few(ids[~in_lab])}; they are kept with missing targets (NaN).")
            warnings.warn(msg, UserWarning, stacklevel=3)
            notes.append(msg)
        if unscanned:
            msg = (f"{count(len(unscanned), 'row')} of {name!r} without a scan: {few(unscanned)}; "
                   "not in the library.")
            warnings.warn(msg, UserWarning, stacklevel=3)
            notes.append(msg)
        empty = in_lab & ~np.isfinite(Y.to_numpy(dtype=np.float64)).any(axis=1) \
            if Y.shape[1] else np.zeros(n, dtype=bool)
        if empty.any():
            notes.append(f"{count(empty.sum(), 'sample')} with a lab row but no value: "
                         f"{few(ids[empty])}.")
        if lab_groups is not None:
            groups = lab_groups.reindex(ids.astype(str)).fillna("unknown").to_numpy(dtype=object)
        Y = Y.to_numpy(dtype=np.float64)
        target_names = list(table.columns)
    else:
        Y = np.empty((n, 0), dtype=np.float64)
        target_names = []
    instruments = sorted({s.instrument for s in scans})
    descr = (f"{len(scans)} {what} scans of {count(n, 'sample')} ({', '.join(instruments)}), "
             f"{out_measurement}, {_grid_note(wavelengths, unit)}.\n"
             + "\n".join(f"  - {c}" for c in notes))
    lib = SpectralLibrary(
        X=X, Y=Y, groups=groups, wavelengths=wavelengths, unit=unit,
        measurement=out_measurement, target_names=target_names,
        target_units={c: "as stored" for c in target_names}, sample_ids=ids,
        conversions=list(notes), DESCR=descr)
    if as_frame:
        lib = lib.as_frame()
    if not return_scans:
        return lib
    return lib, _scan_table(scans, problems, ids, counts, deviation, in_lab, lab is not None)


def _scan_table(scans, problems, ids, counts, deviation, in_lab, joined):
    pos = {i: k for k, i in enumerate(ids)}
    rows = []
    for s in scans:
        k = pos[s.sample_id]
        rows.append({
            "file": s.path, "sample_id": s.sample_id, "instrument": s.instrument,
            "source": s.source, "when": s.when, "read": True,
            "remark": "; ".join(s.remarks), "n_scans": int(counts[k]),
            "deviation": deviation[k], "in_lab": bool(in_lab[k]) if joined else None})
    for p, why in problems:
        rows.append({"file": p, "sample_id": None, "instrument": None, "source": None,
                     "when": None, "read": False, "remark": why, "n_scans": 0,
                     "deviation": np.nan, "in_lab": None})
    return pd.DataFrame(rows)
