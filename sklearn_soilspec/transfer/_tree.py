"""The tree format: a fitted model as JSON and arrays, rebuilt from an allow-list, never unpickled.

A model that is not a network (a
:class:`~sklearn_soilspec.localised.LocalisedRegressor`, a PLSR or Gaussian
process Pipeline) is written as a tree of nodes in ``metadata.json``:
numbers, strings, lists, tuples and dicts as themselves (tagged where JSON
has no such type), every numeric array as an ``.npy`` file of its own, and
every object as its class path and its attributes. On loading, a class is
taken only from a fixed allow-list (this package's estimators, transformers
and localised candidates, and the few scikit-learn classes they are made of)
and re-created as ``cls.__new__(cls)`` with its attributes set, so no
constructor, ``__setstate__`` or pickle of the file's choosing runs. A NumPy
``RandomState`` is restored through ``set_state``, a DataFrame from its
columns, a scikit-learn neighbour index by rebuilding it on its stored rows
(its compiled tree is never read from a file), and each fitted
:class:`~sklearn_soilspec.neural.SpectralCNNRegressor` as the metadata and
tensors of a network model file (:mod:`._network`). An object met twice
(the source model, which every transfer candidate refers to; an array
shared by fold models) is written once and referred to afterwards, so it is
one object again after loading.

Not stored: the ``library`` of a LocalisedRegressor and the library arrays
its library candidates were built from (they are only read by ``fit``, and a
shared model file should not hand out the library it was localised with);
a memory-based candidate keeps the library rows it searches, as it must.
"""

import base64
import functools
import inspect
import math
import os
import warnings

import numpy as np
import pandas as pd
import sklearn
import torch
from sklearn.base import BaseEstimator

from .._version import __version__
from ._network import network_class, network_from_metadata, network_metadata

__all__ = ["allowed_classes", "decode_tree", "encode_tree"]

_SKLEARN = {
    "sklearn.pipeline": ("Pipeline",),
    "sklearn.cross_decomposition": ("PLSRegression",),
    "sklearn.decomposition": ("PCA",),
    "sklearn.gaussian_process": ("GaussianProcessRegressor",),
    "sklearn.gaussian_process.kernels": (
        "ConstantKernel", "DotProduct", "Exponentiation", "ExpSineSquared", "Matern",
        "Product", "RationalQuadratic", "RBF", "Sum", "WhiteKernel"),
    "sklearn.neighbors": ("NearestNeighbors",),
    "sklearn.preprocessing": ("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler"),
    "sklearn.dummy": ("DummyRegressor",),
    "sklearn.frozen": ("FrozenEstimator",),
    # What set_fit_request(...) keeps on an estimator.
    "sklearn.utils._metadata_requests": ("MetadataRequest", "MethodMetadataRequest"),
}
# This package's subpackages whose classes a tree may hold.
_PACKAGES = ("preprocessing", "baselines", "localised")
_NEIGHBOURS = "sklearn.neighbors.NearestNeighbors"
_TEXT_DTYPES = ("object", "str", "string")
# Markers of the JSON nodes that are not plain JSON values.
_MARKERS = ("__ref__", "__float__", "__scalar__", "__tuple__", "__dict__", "__items__",
            "__bytes__", "__ndarray__", "__objects__", "__random_state__", "__dataframe__",
            "__series__", "__index__", "__tensor__", "__network__", "__object__")


@functools.lru_cache(maxsize=None)
def allowed_classes():
    """``{class path: class}`` of every class a tree may hold; nothing else is ever built.

    The classes this package's preprocessing, baselines and localised
    modules define (by their public path where they have one), the network
    and its augmenter, and the scikit-learn classes in ``_SKLEARN``. Only
    these fixed modules are imported, never one named by a file.
    """
    # Deferred: the estimators live in packages that import this one's package.
    import importlib
    import pkgutil

    table = {}
    for module, names in _SKLEARN.items():
        mod = importlib.import_module(module)
        table.update({f"{module}.{name}": getattr(mod, name) for name in names})
    for sub in _PACKAGES:
        pkg = importlib.import_module(f"sklearn_soilspec.{sub}")
        for info in pkgutil.iter_modules(pkg.__path__):
            mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
            table.update({f"{mod.__name__}.{name}": cls for name, cls in vars(mod).items()
                          if isinstance(cls, type) and cls.__module__ == mod.__name__})
        # Public paths last, so that files name a class by them.
        table.update({f"{pkg.__name__}.{name}": getattr(pkg, name) for name in pkg.__all__
                      if isinstance(getattr(pkg, name), type)})
    from ..neural import SpectralAugmenter

    table["sklearn_soilspec.neural.SpectralCNNRegressor"] = network_class()
    table["sklearn_soilspec.neural.SpectralAugmenter"] = SpectralAugmenter
    return table


@functools.lru_cache(maxsize=None)
def _paths():
    return {cls: path for path, cls in allowed_classes().items()}


def _short(key):
    text = repr(key)
    return text if len(text) <= 40 else text[:37] + "..."


def _no_library(value):
    return None


def _no_rows(value):
    return None if value is None else np.asarray(value)[:0]


# Attributes replaced on writing, by class path: what they become in the file.
_NOT_STORED = {
    "sklearn_soilspec.localised.LocalisedRegressor": {"library": _no_library},
    "sklearn_soilspec.localised._members.LibraryMember": {"library_X": _no_rows,
                                                          "library_Y": _no_rows},
}


def _refused(cls, where):
    shown = sorted({p.rsplit(".", 1)[0] for p in allowed_classes()})
    return ValueError(
        f"Cannot save {where}: it is a {cls.__module__}.{cls.__qualname__}, and model files "
        f"hold only allow-listed classes (those of sklearn-soilspec and the scikit-learn ones "
        f"its models are made of, from {shown}), so that loading a file never runs foreign "
        "code. Build the model from those classes, or save this one with joblib and load it "
        "only where its origin is trusted.")


class _Writer:
    """Encodes a value as a JSON node; arrays go to ``self.arrays``."""

    def __init__(self):
        self.arrays = {}
        self._memo = {}
        # Objects memoised by id() are kept alive, so that no id is reused.
        self._keep = []

    def _array(self, arr):
        key = str(len(self.arrays))
        # The memory order is kept (np.save writes Fortran order as such): a
        # fitted model's matrix products must sum in the same order after a
        # reload, or its predictions differ in the last bits on some CPUs.
        arr = np.asarray(arr)
        self.arrays[key] = arr if arr.flags.f_contiguous else np.ascontiguousarray(arr)
        return key

    def _remember(self, obj):
        ref = len(self._keep)
        self._memo[id(obj)] = ref
        self._keep.append(obj)
        return ref

    def __call__(self, v, where):
        if v is None or type(v) in (bool, str):
            return v
        if isinstance(v, np.str_):
            return str(v)
        if type(v) is int:
            return v
        if type(v) is float:
            return v if math.isfinite(v) else {"__float__": repr(v)}
        if isinstance(v, np.generic):
            if v.dtype.kind not in "biuf":
                raise ValueError(f"Cannot save {where}: a NumPy scalar of dtype {v.dtype}.")
            return {"__scalar__": self(v.item(), where), "dtype": v.dtype.str}
        if type(v) is list:
            return [self(x, f"{where}[{i}]") for i, x in enumerate(v)]
        if type(v) is tuple:
            return {"__tuple__": [self(x, f"{where}[{i}]") for i, x in enumerate(v)]}
        if type(v) is dict:
            if all(type(k) is str and not k.startswith("__") for k in v):
                return {"__dict__": {k: self(x, f"{where}[{k!r}]") for k, x in v.items()}}
            return {"__items__": [[self(k, f"{where} (key)"), self(x, f"{where}[{_short(k)}]")]
                                  for k, x in v.items()]}
        if type(v) is bytes:
            return {"__bytes__": base64.b64encode(v).decode("ascii")}
        if isinstance(v, os.PathLike):
            return os.fspath(v)
        if id(v) in self._memo:
            return {"__ref__": self._memo[id(v)]}
        if type(v) is np.ndarray:
            return self._ndarray(v, where)
        if type(v) is np.random.RandomState:
            name, keys, pos, has_gauss, cached = v.get_state(legacy=True)
            return {"__random_state__": [name, {"__ndarray__": self._array(keys)}, int(pos),
                                         int(has_gauss), float(cached)],
                    "id": self._remember(v)}
        if type(v) is pd.DataFrame:
            ref = self._remember(v)
            return {"__dataframe__": {
                "columns": self._index(v.columns, f"{where}.columns"),
                "index": self._index(v.index, f"{where}.index"),
                "data": [self._column(v.iloc[:, i], f"{where}[{c!r}]")
                         for i, c in enumerate(v.columns)]}, "id": ref}
        if type(v) is pd.Series:
            ref = self._remember(v)
            return {"__series__": {"values": self._column(v, where),
                                   "index": self._index(v.index, f"{where}.index"),
                                   "name": self(v.name, f"{where}.name")}, "id": ref}
        if isinstance(v, pd.Index):
            return {"__index__": self._index(v, where)}
        if type(v) is torch.Tensor:
            return {"__tensor__": self._array(v.detach().cpu().numpy()), "id": self._remember(v)}
        if isinstance(v, network_class()) and hasattr(v, "net_"):
            return self._network(v, where)
        return self._object(v, where)

    def _ndarray(self, v, where):
        ref = self._remember(v)
        if v.dtype.kind in "biufcU":
            return {"__ndarray__": self._array(v), "id": ref}
        if v.dtype.kind == "O":
            return {"__objects__": [self(x, f"{where}[{i}]")
                                    for i, x in enumerate(v.ravel().tolist())],
                    "shape": list(v.shape), "id": ref}
        raise ValueError(f"Cannot save {where}: an array of dtype {v.dtype}.")

    def _column(self, s, where):
        dtype = s.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
            return {"values": {"__ndarray__": self._array(s.to_numpy())}, "dtype": dtype.str}
        if str(dtype) in _TEXT_DTYPES:
            return {"values": [self(x, where) for x in s.tolist()], "dtype": str(dtype)}
        raise ValueError(
            f"Cannot save {where}: values of dtype {dtype}; model files store numeric and "
            "text columns.")

    def _index(self, idx, where):
        if type(idx) is pd.RangeIndex:
            return {"range": [int(idx.start), int(idx.stop), int(idx.step)],
                    "name": self(idx.name, where)}
        if type(idx) is pd.Index:
            return dict(self._column(idx, where), name=self(idx.name, where))
        raise ValueError(f"Cannot save {where}: a {type(idx).__name__}.")

    def _network(self, est, where):
        path = _paths().get(type(est))
        if path is None:
            raise _refused(type(est), where)
        ref = self._remember(est)
        meta, tensors = network_metadata(est)
        known = {*est.get_params(deep=False), *est._FITTED_STATE, "net_", "history_",
                 "_auto_predict_rows"}  # the last: a cache, made again on predicting
        keys = {k: self._array(t.detach().cpu().numpy()) for k, t in tensors.items()}
        # What the network file leaves out: its source, which here is in the tree.
        origin = est.warm_start_from
        if not (origin is None or isinstance(origin, (str, os.PathLike))
                or type(origin) in _paths()):
            origin = None  # a SourceModel value: network files do not keep it either
        # What a subclass keeps besides (the weights of a CheckpointedCNN's epochs).
        extra = {k: v for k, v in vars(est).items() if k not in known}
        return {"__network__": {"class": path, "meta": meta, "tensors": keys,
                                "warm_start_from": self(origin, f"{where}.warm_start_from"),
                                "extra": self(extra, where)},
                "id": ref}

    def _object(self, v, where):
        path = _paths().get(type(v))
        if path is None:
            raise _refused(type(v), where)
        slots = set()
        for c in type(v).__mro__:
            own = vars(c).get("__slots__", ())
            slots.update((own,) if isinstance(own, str) else own)
        if not hasattr(v, "__dict__") or slots - {"__dict__", "__weakref__"}:
            raise ValueError(f"Cannot save {where}: a {path} keeps no attribute dict.")
        ref = self._remember(v)
        state = dict(vars(v))
        for name, replace in _NOT_STORED.get(path, {}).items():
            if name in state:
                state[name] = replace(state[name])
        if path == _NEIGHBOURS:
            # Rebuilt from the stored rows on loading; compiled trees are not read from files.
            state.pop("_tree", None)
        bad = [k for k in state if not isinstance(k, str) or k.startswith("__")]
        if bad:
            raise ValueError(f"Cannot save {where}: attributes {bad} are not plain names.")
        return {"__object__": path, "id": ref,
                "state": {k: self(x, f"{where}.{k}") for k, x in state.items()}}


class _Reader:
    """Decodes the JSON nodes of :class:`_Writer`, building only allow-listed classes."""

    def __init__(self, arrays, where, device):
        self.arrays, self.where, self.device = arrays, where, device
        self._memo = {}

    def _fail(self, at, what):
        return ValueError(f"{self.where}: {what} at {at}; the file was not written by "
                          "save_model or was edited.")

    def _array(self, key, at):
        if not isinstance(key, str) or key not in self.arrays:
            raise self._fail(at, f"a missing array {key!r}")
        return self.arrays[key]

    def _register(self, node, obj):
        ref = node.get("id")
        if ref is not None:
            self._memo[ref] = obj
        return obj

    def __call__(self, node, at="root"):
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is list:
            return [self(x, f"{at}[{i}]") for i, x in enumerate(node)]
        kind = next((k for k in _MARKERS if type(node) is dict and k in node), None)
        if kind is None:
            raise self._fail(at, f"an unreadable entry {str(node)[:80]!r}")
        value = node[kind]
        if kind == "__ref__":
            if value not in self._memo:
                raise self._fail(at, f"a reference to unknown object {value!r}")
            return self._memo[value]
        if kind == "__float__":
            if value not in ("nan", "inf", "-inf"):
                raise self._fail(at, f"an unreadable number {value!r}")
            return float(value)
        if kind == "__scalar__":
            dtype = np.dtype(str(node.get("dtype")))
            if dtype.kind not in "biuf" or type(value) not in (bool, int, float, dict):
                raise self._fail(at, f"a scalar of dtype {dtype}")
            return dtype.type(self(value, at))
        if kind == "__tuple__":
            return tuple(self(value, at))
        if kind == "__dict__":
            return {str(k): self(x, f"{at}[{k!r}]") for k, x in value.items()}
        if kind == "__items__":
            return {self(k, at): self(x, f"{at}[{_short(k)}]") for k, x in value}
        if kind == "__bytes__":
            return base64.b64decode(value.encode("ascii"), validate=True)
        if kind == "__ndarray__":
            return self._register(node, self._array(value, at))
        if kind == "__tensor__":
            return self._register(node, torch.from_numpy(self._array(value, at)))
        if kind == "__objects__":
            items = self(value, at)
            out = np.empty(len(items), dtype=object)
            out[:] = items
            return self._register(node, out.reshape([int(s) for s in node["shape"]]))
        if kind == "__random_state__":
            name, keys, pos, has_gauss, cached = value
            rs = np.random.RandomState()
            rs.set_state((str(name), np.asarray(self(keys, at), dtype=np.uint32), int(pos),
                          int(has_gauss), float(cached)))
            return self._register(node, rs)
        if kind == "__dataframe__":
            return self._register(node, self._frame(value, at))
        if kind == "__series__":
            s = pd.Series(self._values(value["values"], at), name=self(value["name"], at))
            s.index = self._index(value["index"], at)
            return self._register(node, s)
        if kind == "__index__":
            return self._index(value, at)
        if kind == "__network__":
            return self._network(node, value, at)
        return self._object(node, value, at)

    def _values(self, col, at):
        dtype = str(col["dtype"])
        if isinstance(col["values"], dict):
            arr = self(col["values"], at)
            if not isinstance(arr, np.ndarray) or arr.dtype.str != dtype:
                raise self._fail(at, f"a column that is not of dtype {dtype}")
            return arr
        if dtype not in _TEXT_DTYPES:
            raise self._fail(at, f"a column of dtype {dtype!r}")
        return pd.array(self(col["values"], at), dtype=dtype)

    def _index(self, node, at):
        name = self(node.get("name"), at)
        if "range" in node:
            return pd.RangeIndex(*[int(x) for x in node["range"]], name=name)
        return pd.Index(self._values(node, at), name=name)

    def _frame(self, node, at):
        index = self._index(node["index"], f"{at}.index")
        data = [self._values(c, f"{at}[{i}]") for i, c in enumerate(node["data"])]
        frame = pd.DataFrame({i: pd.Series(d, index=index, copy=False) for i, d in enumerate(data)},
                             index=index)
        frame.columns = self._index(node["columns"], f"{at}.columns")
        return frame

    def _network(self, node, value, at):
        path = value.get("class", "sklearn_soilspec.neural.SpectralCNNRegressor")
        cls = allowed_classes().get(path) if isinstance(path, str) else None
        if not (isinstance(cls, type) and issubclass(cls, network_class())):
            raise self._fail(at, f"a network of class {path!r}")
        tensors = {str(k): torch.from_numpy(self._array(key, at))
                   for k, key in value["tensors"].items()}
        est = network_from_metadata(value["meta"], tensors, f"{self.where} ({at})", self.device,
                                    cls=cls)
        self._register(node, est)
        est.warm_start_from = self(value.get("warm_start_from"), f"{at}.warm_start_from")
        extra = self(value.get("extra", {"__dict__": {}}), at)
        if type(extra) is not dict or any(k.startswith("__") for k in extra):
            raise self._fail(at, "unreadable attributes of a network")
        est.__dict__.update(extra)
        return est

    def _object(self, node, path, at):
        cls = allowed_classes().get(path) if isinstance(path, str) else None
        if cls is None:
            raise ValueError(
                f"{self.where}: names the class {path!r} at {at}, which model files may not "
                "hold: only sklearn-soilspec's classes and the scikit-learn ones its models "
                "are made of are built when loading, so that a file never runs foreign code. "
                "The file was not written by save_model or was edited; do not load it by "
                "other means unless you trust its origin.")
        obj = self._register(node, cls.__new__(cls))
        state = node.get("state")
        if type(state) is not dict or any(k.startswith("__") for k in state):
            raise self._fail(at, f"unreadable attributes of a {path}")
        obj.__dict__.update({k: self(x, f"{at}.{k}") for k, x in state.items()})
        _default_missing_params(obj)
        if path == _NEIGHBOURS and hasattr(obj, "_fit_X"):
            # The same rows and settings build the same index.
            obj._tree = cls(**obj.get_params()).fit(obj._fit_X)._tree
        return obj


def _default_missing_params(obj):
    """Give a parameter added to the class since the file was written its default."""
    if not isinstance(obj, BaseEstimator):
        return
    signature = inspect.signature(type(obj).__init__)
    for name in type(obj)._get_param_names():
        default = signature.parameters[name].default
        if name not in obj.__dict__ and default is not inspect.Parameter.empty:
            setattr(obj, name, default)


def _versions():
    return {"scikit-learn": sklearn.__version__, "numpy": np.__version__,
            "pandas": pd.__version__}


def encode_tree(model):
    """``(metadata, arrays)`` of a fitted model of allow-listed classes."""
    writer = _Writer()
    root = writer(model, type(model).__name__)
    stored = {p: sorted(n) for p, n in _NOT_STORED.items()}
    meta = {"package_version": __version__, "kind": "tree", "class": _paths()[type(model)],
            "versions": _versions(), "not_stored": stored, "root": root}
    return meta, writer.arrays


def decode_tree(meta, arrays, where, device="cpu"):
    """The model :func:`encode_tree` described, built from allow-listed classes only."""
    saved = (meta.get("versions") or {}).get("scikit-learn")
    if saved and saved != sklearn.__version__:
        warnings.warn(
            f"{where} was written with scikit-learn {saved}, and this is "
            f"{sklearn.__version__}: its models are rebuilt from their saved attributes, which "
            "scikit-learn may rename between versions. Check its predictions, or save it "
            "again with this version.", UserWarning, stacklevel=3)
    reader = _Reader(arrays, where, device)
    try:
        model = reader(meta["root"])
    except (KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        raise ValueError(f"{where}: incomplete or inconsistent model tree ({exc!r}).") from None
    if not hasattr(model, "predict"):
        raise ValueError(f"{where}: holds a {type(model).__name__}, not a model.")
    return model
