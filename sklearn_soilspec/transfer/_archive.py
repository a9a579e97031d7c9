"""The model file format: a zip of JSON metadata and plain tensors, read without running code.

A model file (suffix ``.soilspec`` by convention) holds

``metadata.json``
    Format name and version, package version, the network (architecture,
    sizes, input shape, wavelength grid, axis unit, measurement), the
    targets and their scaling, the estimator's parameters and fitted values,
    the training summary and validation curve, and each preprocessing step
    as a class path, its parameters, fitted values and ``set_output``
    configuration.
``weights.pt``
    A flat ``{name: tensor}`` dict written by :func:`torch.save`: the
    network's ``state_dict`` (``module.<name>``) and every fitted numeric
    array (``steps.<i>.<attr>``, ``estimator.<attr>``).
``checksums.json``
    SHA-256 of both, so that a truncated or edited file is refused.

Format version 3 holds any other allow-listed model (a
:class:`~sklearn_soilspec.localised.LocalisedRegressor`, a PLSR Pipeline):
``metadata.json`` describes it as a tree of objects (:mod:`._tree`), each
numeric array is an ``arrays/<n>.npy`` file read with
``numpy.load(..., allow_pickle=False)``, and ``checksums.json`` lists the
SHA-256 of every file in the archive, none other being accepted. Networks
and Pipelines ending in one are still written in version 2, which older
releases read; a release that reads only versions 1 and 2 refuses a version 3
file with "upgrade the package".

Tensors are read with ``torch.load(..., weights_only=True)`` and classes are
re-created only from an allow-list, so a model file cannot run code. Files
are written to a temporary file beside the target and renamed over it, so a
failed write (full disk, Ctrl-C) leaves the previous file intact.

This module knows the format and the preprocessing steps, not the
estimator: :func:`read_source` gives a
:class:`~sklearn_soilspec.transfer.SourceModel`, which is all a warm start
needs; :func:`~sklearn_soilspec.transfer.load_model` builds the estimator.
"""

import hashlib
import io
import json
import os
import zipfile
from numbers import Integral, Real

import numpy as np
import torch

from .._io import atomic_write
from ._source import SourceModel

__all__ = ["read_archive", "read_metadata", "read_source", "write_archive", "write_tree_archive"]

FORMAT_NAME = "sklearn-soilspec-model"
FORMAT_VERSION = 2
# Models that are not a network (or a Pipeline ending in one): a tree of
# allow-listed objects whose arrays are .npy files.
TREE_FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
CHECKSUMS = "checksums.json"
ARRAY_PREFIX, ARRAY_SUFFIX = "arrays/", ".npy"
ESTIMATOR_PATH = "sklearn_soilspec.neural.SpectralCNNRegressor"
_SKLEARN_STEPS = {
    "sklearn.preprocessing.StandardScaler",
    "sklearn.preprocessing.MinMaxScaler",
    "sklearn.preprocessing.MaxAbsScaler",
    "sklearn.preprocessing.RobustScaler",
    "sklearn.decomposition.PCA",
}
_OUTPUT_CONTAINERS = ("default", "pandas", "polars")


def _sha256(raw):
    return hashlib.sha256(raw).hexdigest()


def _allowed_class(path):
    """Class for an allow-listed path; never imports a module named by a file."""
    if path in _SKLEARN_STEPS:
        import sklearn.decomposition
        import sklearn.preprocessing

        module, name = path.rsplit(".", 1)
        return getattr({"sklearn.preprocessing": sklearn.preprocessing,
                        "sklearn.decomposition": sklearn.decomposition}[module], name)
    module, _, name = path.rpartition(".")
    if module == "sklearn_soilspec.preprocessing":
        from .. import preprocessing

        cls = getattr(preprocessing, name, None)
        if name in preprocessing.__all__ and isinstance(cls, type):
            return cls
    return None



def _class_path(obj):
    cls = type(obj)
    for path in (f"sklearn_soilspec.preprocessing.{cls.__name__}",
                 f"{cls.__module__.split('._')[0]}.{cls.__name__}"):
        if _allowed_class(path) is cls:
            return path
    raise ValueError(
        f"Cannot save a {cls.__module__}.{cls.__name__} step: model files hold only "
        "sklearn_soilspec.preprocessing transformers and "
        f"{sorted(_SKLEARN_STEPS)}, so that loading a file never runs foreign code."
    )



class Encoder:
    """JSON for small values, tensors for numeric arrays."""

    def __init__(self):
        self.tensors = {}

    def __call__(self, value, key):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (Integral, Real)) and not isinstance(value, np.ndarray):
            return value.item() if isinstance(value, np.generic) else value
        if isinstance(value, np.ndarray):
            if value.dtype.kind in "biuf":
                self.tensors[key] = torch.from_numpy(np.ascontiguousarray(value).copy())
                return {"__tensor__": key}
            if value.dtype.kind in "OU":
                return {"__array__": [self(v, f"{key}.{i}") for i, v in enumerate(value.tolist())],
                        "dtype": "object" if value.dtype.kind == "O" else "str"}
        if isinstance(value, tuple):
            return {"__tuple__": [self(v, f"{key}.{i}") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self(v, f"{key}.{i}") for i, v in enumerate(value)]
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {"__dict__": {k: self(v, f"{key}.{k}") for k, v in value.items()}}
        if isinstance(value, type) and issubclass(value, torch.optim.Optimizer) and (
            getattr(torch.optim, value.__name__, None) is value
        ):
            return {"__optimizer__": value.__name__}
        raise ValueError(
            f"Cannot store {key} ({type(value).__name__}) in a model file: only numbers, "
            "strings, arrays, lists, tuples and dicts of these are supported."
        )


def _decode(value, tensors, where):
    if isinstance(value, list):
        return [_decode(v, tensors, where) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        key = value["__tensor__"]
        if key not in tensors:
            raise ValueError(f"{where}: weights.pt lacks the array {key!r}.")
        return tensors[key].numpy()
    if "__array__" in value:
        items = _decode(value["__array__"], tensors, where)
        return np.asarray(items, dtype=object if value.get("dtype") == "object" else str)
    if "__tuple__" in value:
        return tuple(_decode(value["__tuple__"], tensors, where))
    if "__dict__" in value:
        return {k: _decode(v, tensors, where) for k, v in value["__dict__"].items()}
    if "__optimizer__" in value:
        cls = getattr(torch.optim, str(value["__optimizer__"]), None)
        if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
            raise ValueError(f"{where}: unknown optimizer {value['__optimizer__']!r}.")
        return cls
    raise ValueError(f"{where}: unreadable metadata entry {value!r}.")


def fitted_state(obj):
    return {k: v for k, v in vars(obj).items() if k.endswith("_") and not k.startswith("__")}


def output_config(step):
    """What ``set_output`` was given, e.g. ``{"transform": "pandas"}``."""
    # sklearn keeps it in this attribute and has no public getter; without it
    # a loaded Pipeline passes arrays and later steps lose the wavelength axis.
    config = getattr(step, "_sklearn_output_config", None) or {}
    return {k: v for k, v in config.items() if k == "transform" and isinstance(v, str)}


def _restore_output(obj, config, where):
    if not config:
        return
    if not (isinstance(config, dict) and set(config) == {"transform"}
            and config["transform"] in _OUTPUT_CONTAINERS and hasattr(obj, "set_output")):
        raise ValueError(f"{where}: unreadable output configuration {config!r}.")
    obj.set_output(transform=config["transform"])



def _parse_json(raw, what, path):
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: {what} is not valid JSON ({exc}).") from None


def read_archive(path, weights=True):
    """``(metadata, arrays)`` of a model file, every checksum verified.

    ``arrays`` is the ``{name: tensor}`` dict of ``weights.pt`` (versions 1
    and 2) or the ``{name: ndarray}`` of the ``.npy`` files (version 3);
    None when ``weights=False``.
    """
    path = os.fspath(path)
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "metadata.json" not in names:
                raise ValueError(f"{path}: not a model file, it lacks ['metadata.json'].")
            raw_meta = zf.read("metadata.json")
            meta = _parse_json(raw_meta, "metadata.json", path)
            later = isinstance(meta, dict) and type(meta.get("format_version")) is int and (
                meta["format_version"] >= TREE_FORMAT_VERSION)
            if not later and "weights.pt" not in names:
                raise ValueError(f"{path}: not a model file, it lacks ['weights.pt'].")
            version = _check_format(meta, path)
            raw_sums = zf.read(CHECKSUMS) if CHECKSUMS in names else None
            if version >= TREE_FORMAT_VERSION:
                sums = _checked_sums(raw_sums, raw_meta, path)
                return meta, _read_npy(zf, names, sums, path) if weights else None
            raw_weights = zf.read("weights.pt") if weights else None
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as exc:
        raise ValueError(
            f"{path}: not a readable sklearn-soilspec model file (a zip archive with "
            f"metadata.json and weights.pt): {exc}. It may be truncated or not a model file."
        ) from None
    if version >= 2:
        # Since version 2 the metadata is checksummed too: an edited target
        # scaling or wavelength grid would otherwise predict garbage quietly.
        _checked_sums(raw_sums, raw_meta, path)
    if raw_weights is None:
        return meta, None
    if _sha256(raw_weights) != meta.get("weights_sha256"):
        raise ValueError(
            f"{path}: weights.pt does not match the checksum in metadata.json; the file "
            "was modified or damaged."
        )
    try:
        tensors = torch.load(io.BytesIO(raw_weights), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ...
        raise ValueError(
            f"{path}: weights.pt was refused: it is not a plain tensor file "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})."
        ) from None
    if not isinstance(tensors, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in tensors.items()
    ):
        raise ValueError(f"{path}: weights.pt must hold a flat dict of named tensors.")
    return meta, tensors


def _check_format(meta, path):
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ValueError(f"{path}: metadata.json does not describe a {FORMAT_NAME} file.")
    version = meta.get("format_version")
    if version not in READABLE_VERSIONS:
        raise ValueError(
            f"{path}: written in model file format version {version!r}; this version of "
            f"sklearn-soilspec reads versions {list(READABLE_VERSIONS)}: upgrade the package."
        )
    return version


def _checked_sums(raw_sums, raw_meta, path):
    sums = None
    if raw_sums is not None:
        try:
            sums = json.loads(raw_sums.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            sums = None
    if not isinstance(sums, dict) or sums.get("metadata.json") != _sha256(raw_meta):
        raise ValueError(
            f"{path}: metadata.json does not match the checksum in {CHECKSUMS}; the file "
            "was modified or damaged."
        )
    return sums


def _read_npy(zf, names, sums, path):
    """The ``.npy`` arrays of a version 3 file, each checked against ``sums``."""
    listed = set(sums) | {CHECKSUMS}
    if names - listed or set(sums) - names:
        odd = sorted((names - listed) | (set(sums) - names))
        raise ValueError(
            f"{path}: the archive's files do not match {CHECKSUMS} ({odd[:5]}); the file was "
            "modified or damaged.")
    arrays = {}
    for name in sorted(names - {"metadata.json", CHECKSUMS}):
        if not (name.startswith(ARRAY_PREFIX) and name.endswith(ARRAY_SUFFIX)):
            raise ValueError(f"{path}: unexpected file {name!r} in a model file.")
        raw = zf.read(name)
        if _sha256(raw) != sums[name]:
            raise ValueError(
                f"{path}: {name} does not match the checksum in {CHECKSUMS}; the file was "
                "modified or damaged.")
        try:
            arr = np.load(io.BytesIO(raw), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(f"{path}: {name} is not a plain numeric array ({exc}).") from None
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biufcU":
            raise ValueError(f"{path}: {name} holds an array of dtype {arr.dtype}, which model "
                             "files do not store.")
        arrays[name[len(ARRAY_PREFIX):-len(ARRAY_SUFFIX)]] = arr
    return arrays


def _restore(entry, tensors, where):
    cls = _allowed_class(entry.get("class"))
    if cls is None:
        raise ValueError(
            f"{where}: class {entry.get('class')!r} is not allowed in model files "
            "(sklearn_soilspec.preprocessing transformers, sklearn scalers/PCA and "
            "nothing else)."
        )
    params = _decode(entry.get("params", {}), tensors, where)
    try:
        obj = cls(**params)
    except TypeError as exc:
        raise ValueError(f"{where}: parameters do not fit {cls.__name__}: {exc}.") from None
    for k, v in _decode(entry.get("fitted", {}), tensors, where).items():
        setattr(obj, k, v)
    _restore_output(obj, entry.get("output"), where)
    return obj



def write_archive(path, meta, tensors):
    """Write ``meta`` and ``tensors`` as a model file, atomically.

    The checksums are added here. The archive is written to a temporary
    file in the target's folder and renamed over ``path`` only once it is
    complete, so an existing file survives any failure.
    """
    path = os.fspath(path)
    buf = io.BytesIO()
    torch.save(tensors, buf)
    weights = buf.getvalue()
    meta = dict(meta, format=FORMAT_NAME, format_version=FORMAT_VERSION,
                weights_sha256=_sha256(weights))
    raw_meta = json.dumps(meta, indent=1).encode("utf-8")
    sums = {"metadata.json": _sha256(raw_meta), "weights.pt": meta["weights_sha256"]}
    with atomic_write(path, "wb") as fh:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("metadata.json", raw_meta)
            zf.writestr("weights.pt", weights)
            zf.writestr(CHECKSUMS, json.dumps(sums))
    return path


def write_tree_archive(path, meta, arrays):
    """Write a version 3 file: ``meta`` as metadata.json, each array as a ``.npy`` file."""
    path = os.fspath(path)
    files = {}
    for key, arr in arrays.items():
        buf = io.BytesIO()
        np.save(buf, arr if arr.flags.f_contiguous else np.ascontiguousarray(arr),
                allow_pickle=False)
        files[f"{ARRAY_PREFIX}{key}{ARRAY_SUFFIX}"] = buf.getvalue()
    meta = dict(meta, format=FORMAT_NAME, format_version=TREE_FORMAT_VERSION)
    raw_meta = json.dumps(meta, indent=1).encode("utf-8")
    sums = {"metadata.json": _sha256(raw_meta), **{k: _sha256(v) for k, v in files.items()}}
    with atomic_write(path, "wb") as fh:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("metadata.json", raw_meta)
            for name, raw in files.items():
                zf.writestr(name, raw)
            zf.writestr(CHECKSUMS, json.dumps(sums))
    return path


def read_metadata(path):
    """The JSON metadata of a model file (grid, targets, training summary), checked.

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    metadata : dict

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn_soilspec.neural import SpectralCNNRegressor
    >>> from sklearn_soilspec.transfer import read_metadata, save_model
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(40, 16)), rng.normal(size=40)
    >>> net = SpectralCNNRegressor(module_params={"channels": (4,), "shared_units": (8,),
    ...                                           "head_units": 8}, max_epochs=1, random_state=0)
    >>> path = save_model(net.fit(X, y), os.path.join(tempfile.mkdtemp(), "m.soilspec"),
    ...                   measurement="absorbance")
    >>> read_metadata(path)["measurement"], read_metadata(path)["format_version"]
    ('absorbance', 2)
    """
    meta, _ = read_archive(path, weights=False)
    return meta


def estimator_entry(meta, where):
    """The estimator's parameters and fitted values, checked to be the network's."""
    entry = meta.get("estimator")
    if not isinstance(entry, dict) or entry.get("class") != ESTIMATOR_PATH:
        got = entry.get("class") if isinstance(entry, dict) else None
        raise ValueError(
            f"{where}: the final estimator is {got!r}, not a SpectralCNNRegressor."
        )
    return entry


def source_from_archive(meta, tensors, where):
    """The :class:`SourceModel` a model file describes."""
    try:
        entry = estimator_entry(meta, where)
        fitted = _decode(entry.get("fitted", {}), tensors, where)
        state = {k[len("module."):]: v for k, v in tensors.items() if k.startswith("module.")}
        steps = [(s["name"], _restore(s, tensors, f"{where} (step {s['name']!r})"))
                 for s in meta.get("steps", [])]
        standardize = fitted.get("standardize_")
        if standardize is None:  # format version 1
            standardize = ("per_domain" if fitted.get("domain_standardized_") else
                           "none" if fitted.get("x_mean_") is None else "pooled")
        wl = fitted.get("wavelengths_")
        input_wl = meta.get("wavelengths")
        return SourceModel(
            architecture=meta["architecture"],
            module_config=meta["module_params"],
            state_dict=state,
            input_shape=tuple(int(s) for s in fitted["input_shape_"]),
            target_names=[str(n) for n in fitted["target_names_"]],
            y_mean=np.asarray(fitted["y_mean_"], dtype=np.float64),
            y_scale=np.asarray(fitted["y_scale_"], dtype=np.float64),
            x_mean=fitted.get("x_mean_"),
            x_scale=fitted.get("x_scale_"),
            standardize=standardize,
            wavelengths=None if wl is None else np.asarray(wl, dtype=np.float64),
            input_wavelengths=None if input_wl is None else np.asarray(input_wl, dtype=np.float64),
            unit=meta.get("unit"),
            measurement=meta.get("measurement"),
            preprocessing=steps,
            training_summary=fitted.get("training_summary_") or {},
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{where}: incomplete or inconsistent metadata ({exc!r}).") from None


def read_source(path):
    """Read a model file into a :class:`SourceModel` (what a warm start copies).

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    source : SourceModel

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn_soilspec.neural import SpectralCNNRegressor
    >>> from sklearn_soilspec.transfer import read_source, save_model
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(40, 16)), rng.normal(size=40)
    >>> net = SpectralCNNRegressor(module_params={"channels": (4,), "shared_units": (8,),
    ...                                           "head_units": 8}, max_epochs=1, random_state=0)
    >>> path = save_model(net.fit(X, y), os.path.join(tempfile.mkdtemp(), "m.soilspec"))
    >>> source = read_source(path)          # weights and scalers, no estimator built
    >>> source.target_names, source.input_shape
    (['target_0'], (16,))
    """
    meta, tensors = read_archive(path)
    if meta.get("format_version", 0) >= TREE_FORMAT_VERSION:
        raise ValueError(
            f"{os.fspath(path)} holds a {meta.get('class', 'model')}, not a network to warm "
            "start from: load it with load_model, and warm start from its source (for a "
            "LocalisedRegressor, its source_), or pass the source's own model file.")
    return source_from_archive(meta, tensors, os.fspath(path))
