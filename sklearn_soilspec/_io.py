"""Writing files without losing the old ones.

Every file the ``soilspec`` command writes goes through :func:`atomic_write`:
the data go to a temporary file in the target's folder, are flushed to disk
and only then replace the target in one ``os.replace``. A full disk, an error
or Ctrl-C halfway leave the previous file as it was and no temporary file
behind. :func:`check_output_path` refuses, before any work is done, an output
that is one of the inputs or that exists already (unless overwriting was
asked for).
"""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["REPORT_FILES", "atomic_path", "atomic_write", "check_output_path",
           "check_report_folder", "replace_report"]

# What ExperimentResult.write_report puts into a report folder; the only files
# a rerun with overwrite removes (anything else there belongs to the user).
REPORT_FILES = (
    "report.md", "scores.csv", "scores_pooled.csv", "comparison.csv", "predictions.csv",
    "learning_curves.csv", "transfer_reports.csv", "rmse_bars.png", "observed_predicted.png",
    "learning_curves.png",
    "report.html", "headline.csv", "rmse_change.png", "observed_predicted_localised.png",
)


@contextlib.contextmanager
def atomic_write(path, mode="wb", **kwargs):
    """Open a temporary file that replaces ``path`` only when the block succeeds.

    Parameters
    ----------
    path : str or path-like
        The file to (re)write.
    mode : {"wb", "w"}, default="wb"
        Binary or text mode of the temporary file.
    **kwargs
        Passed to :func:`open` (``encoding``, ``newline``).

    Yields
    ------
    file : file object
        Open on a temporary file in the folder of ``path`` (a hidden name
        ending in ``.tmp``), removed again if the block fails.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn_soilspec._io import atomic_write
    >>> path = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_write(path, "w", encoding="utf-8") as f:
    ...     _ = f.write("done")
    >>> open(path).read()
    'done'
    """
    if mode not in ("w", "wb"):
        raise ValueError(
            f"atomic_write writes whole files: mode must be 'w' or 'wb', got {mode!r}.")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    # Same folder: os.replace is atomic only within one file system.
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with open(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        _keep_mode(path, tmp)
        os.replace(tmp, path)
        _sync_folder(folder)
    except BaseException:  # KeyboardInterrupt too: never leave the temporary file
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path next to ``path`` for writers that want a file name.

    The writer (``save_model``, ``DataFrame.to_csv``) writes to the yielded
    path; it replaces ``path`` only when the block succeeds.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    base, ext = os.path.splitext(os.path.basename(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{ext}", dir=folder)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        _keep_mode(path, tmp)
        os.replace(tmp, path)
        _sync_folder(folder)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _sync_folder(folder):
    # The rename itself reaches the disk only with the folder's entry.
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _keep_mode(path, tmp):
    # mkstemp makes the file private (0600); a file replaced keeps its
    # permissions, a new one gets the usual ones (0666 minus the umask).
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    with contextlib.suppress(OSError):
        os.chmod(tmp, mode)


def _same_file(a, b):
    try:
        if os.path.samefile(a, b):
            return True
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def check_output_path(path, inputs=(), overwrite=False, option="--out"):
    """Refuse an output file that would destroy an input or an existing file.

    Parameters
    ----------
    path : str or path-like
        The output file.
    inputs : sequence of str or path-like
        Files the command reads; the output may be none of them.
    overwrite : bool, default=False
        Whether an existing output may be replaced.
    option : str, default="--out"
        How the user names the output, for the messages.

    Returns
    -------
    path : str

    Raises
    ------
    ValueError
        If the output is one of the inputs, exists without ``overwrite``, is
        a folder, or its folder is missing or not writable.

    Examples
    --------
    >>> from sklearn_soilspec._io import check_output_path
    >>> check_output_path("in.csv", inputs=["in.csv"])
    Traceback (most recent call last):
    ...
    ValueError: --out 'in.csv' is also an input file; writing it would destroy the input. ...
    """
    path = os.fspath(path)
    if not path.strip():
        raise ValueError(f"{option} is empty; give a file name.")
    for source in inputs:
        if source is not None and _same_file(path, os.fspath(source)):
            raise ValueError(
                f"{option} {path!r} is also an input file; writing it would destroy the "
                "input. Choose another output file."
            )
    if os.path.isdir(path):
        raise ValueError(f"{option} {path!r} is a folder; give a file name.")
    if os.path.lexists(path) and not overwrite:
        raise ValueError(
            f"{option} {path!r} exists already; pass --overwrite to replace it or choose "
            "another output file."
        )
    _check_folder(os.path.dirname(os.path.abspath(path)), option, path)
    return path


def _check_folder(folder, option, path):
    if not os.path.isdir(folder):
        raise ValueError(
            f"{option} {path!r}: the folder {folder!r} does not exist; create it first.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path!r}: the folder {folder!r} is not writable.")


def check_report_folder(folder, inputs=(), overwrite=False, option="--out"):
    """Refuse a report folder that holds an earlier report, unless overwriting.

    A folder may hold anything else; only an earlier report's files
    (:data:`REPORT_FILES`) would make a rerun ambiguous: stale figures
    beside new tables. With ``overwrite`` they are listed so that the caller
    replaces them (:func:`replace_report`).
    An input file named like a report file inside the folder is refused
    either way.

    Returns
    -------
    old : list of str
        The earlier report's files found in ``folder`` (empty for a new one).
    """
    folder = os.fspath(folder)
    if not folder.strip():
        raise ValueError(f"{option} is empty; give a folder name.")
    for source in inputs:
        if source is not None and _same_file(folder, os.fspath(source)):
            raise ValueError(f"{option} {folder!r} is an input; choose another report folder.")
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ValueError(f"{option} {folder!r} is a file, not a folder; choose a folder name.")
    if not os.path.isdir(folder):
        parent = os.path.dirname(os.path.abspath(folder))
        if not os.path.isdir(parent):
            raise ValueError(
                f"{option} {folder!r}: the folder {parent!r} does not exist; create it first.")
        _check_folder(parent, option, folder)
        return []
    _check_folder(folder, option, folder)
    old = [f for f in REPORT_FILES if os.path.lexists(os.path.join(folder, f))]
    if old and not overwrite:
        raise ValueError(
            f"{option} {folder!r} holds an earlier report ({', '.join(old[:3])}"
            f"{', ...' if len(old) > 3 else ''}); pass --overwrite to replace it or choose "
            "another folder."
        )
    for source in inputs:
        if source is not None and os.path.dirname(os.path.realpath(os.fspath(source))) == \
                os.path.realpath(folder):
            name = os.path.basename(os.fspath(source))
            if name in REPORT_FILES:
                raise ValueError(
                    f"{option} {folder!r}: the input {name!r} would be replaced by the "
                    "report; move it or choose another folder."
                )
    return old


def replace_report(folder, write):
    """Write a report beside ``folder``, then move it in, removing stale report files.

    Parameters
    ----------
    folder : str or path-like
        The report folder; created if missing.
    write : callable
        ``write(staging_folder)`` writes the report's files (e.g.
        ``ExperimentResult.write_report``).

    Returns
    -------
    path : pathlib.Path
        ``folder / "report.md"``.

    A failure while writing leaves an earlier report as it was; of the earlier
    report's files (:data:`REPORT_FILES`) those the new one lacks (a figure
    not drawn this time) are removed, and files that are no report's are
    never touched.
    """
    folder = Path(folder)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp",
                                    dir=folder.resolve().parent))
    try:
        write(staging)
        folder.mkdir(exist_ok=True)
        written = {p.name for p in staging.iterdir() if p.is_file()}
        for name in REPORT_FILES:
            if name not in written and (folder / name).is_file():
                (folder / name).unlink()
        for name in sorted(written):
            os.replace(staging / name, folder / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder / "report.md"
