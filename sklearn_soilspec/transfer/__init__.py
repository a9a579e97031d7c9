"""Transfer learning: warm starts, layer freezing, model files, negative-transfer guard.

A model trained on a large (global) library is localised by fitting a
:class:`~sklearn_soilspec.neural.SpectralCNNRegressor` with
``warm_start_from=<source>`` on the small local data, optionally with
``freeze_layers``. Every mechanism of that lives here; the regressor calls in
when it builds its network in ``fit``, so every clone (``GridSearchCV``,
``cross_val_score``) re-applies the warm start.

Model files
-----------
:func:`save_model` writes one zip archive (suffix ``.soilspec`` by
convention) holding

``metadata.json``
    Format name and version, package version, the estimator's parameters
    and fitted values (target names and scaling, input shape, wavelength
    grid and unit, training summary and validation curve), and each
    preprocessing step as a class path, its parameters, fitted values and
    ``set_output`` configuration. Parameters holding live objects
    (``warm_start_from``, ``accelerator``) are not stored.
``weights.pt``
    A flat ``{name: tensor}`` dict written by :func:`torch.save`: the
    network's ``state_dict`` (``module.<name>``) and every fitted numeric
    array (``steps.<i>.<attr>``, ``estimator.<attr>``).

:func:`load_model` reads tensors with ``torch.load(..., weights_only=True)``
and re-creates classes only from an allow-list, so a model file cannot run
code; a SHA-256 of ``weights.pt`` in the metadata catches truncated or edited
files.

References
----------
Padarian, J., Minasny, B., McBratney, A. B. (2019). Transfer learning to
localise a continental soil vis-NIR calibration model. Geoderma 340, 279-288.
"""

import hashlib
import io
import json
import os
import warnings
import zipfile
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context, clone
from sklearn.model_selection import ShuffleSplit
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from skorch.callbacks import Callback
from skorch.history import History

from .._version import __version__
from ..neural import SpectralCNNRegressor, nan_r2_score
from ..neural._callbacks import rmse_per_target
from ..neural._regressor import _nan_scaler

__all__ = ["save_model", "load_model", "TransferSelector"]

FORMAT_NAME = "sklearn-soilspec-model"
FORMAT_VERSION = 1


# ---------------------------------------------------------------------------
# Warm start
# ---------------------------------------------------------------------------


def resolve_source(source):
    """The fitted regressor (and its Pipeline, if any) a warm start copies from.

    Parameters
    ----------
    source : str, PathLike, estimator
        A model file, a fitted SpectralCNNRegressor, a fitted Pipeline ending
        in one, or a ``FrozenEstimator`` of either.

    Returns
    -------
    regressor : SpectralCNNRegressor
    pipeline : Pipeline or None
    """
    if isinstance(source, (str, os.PathLike)):
        source = load_model(source)
    # FrozenEstimator (sklearn.frozen) wraps the fitted model in `.estimator`.
    if type(source).__name__ == "FrozenEstimator" and hasattr(source, "estimator"):
        source = source.estimator
    pipeline = None
    if isinstance(source, Pipeline):
        pipeline, source = source, source.steps[-1][1]
    if not isinstance(source, SpectralCNNRegressor):
        raise TypeError(
            "warm_start_from must be a model file, a fitted SpectralCNNRegressor or a "
            f"Pipeline ending in one; got {type(source).__name__}."
        )
    check_is_fitted(source, "net_", msg=(
        "warm_start_from holds an unfitted SpectralCNNRegressor: fit the source model "
        "first (or pass the path of a saved model)."
    ))
    return source, pipeline


def _module_config(estimator):
    """The network's constructor arguments, defaults filled in."""
    import inspect

    from ..neural._regressor import _ARCHITECTURES

    cls = _ARCHITECTURES[estimator.architecture]
    config = {
        k: p.default
        for k, p in inspect.signature(cls).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    config.update(estimator.module_params or {})
    return {k: _as_lists(v) for k, v in config.items()}


def _as_lists(value):
    if isinstance(value, (tuple, list, np.ndarray)):
        return [_as_lists(v) for v in value]
    return value


def check_input_contract(estimator, source):
    """Raise a ValueError saying what differs between a local fit and its source."""
    if estimator.architecture != source.architecture:
        raise ValueError(
            f"The source model is a {source.architecture!r} network but "
            f"architecture={estimator.architecture!r}: set architecture="
            f"{source.architecture!r} to warm-start from it."
        )
    here, there = _module_config(estimator), _module_config(source)
    differ = {k: (here.get(k), there.get(k)) for k in set(here) | set(there)
              if here.get(k) != there.get(k)}
    if differ:
        detail = ", ".join(f"{k}: {a!r} here vs {b!r} in the source" for k, (a, b) in
                           sorted(differ.items()))
        raise ValueError(
            f"module_params differ from the source model's ({detail}); a warm start needs "
            "the same network: copy module_params from the source."
        )
    src_wl, wl = source.wavelengths_, estimator.wavelengths_
    if src_wl is not None and wl is not None and (
        src_wl.shape != wl.shape or not np.allclose(src_wl, wl)
    ):
        raise ValueError(
            f"The local spectra are on a different wavelength grid ({wl[0]:g}-{wl[-1]:g}, "
            f"{wl.size} values) than the source model ({src_wl[0]:g}-{src_wl[-1]:g}, "
            f"{src_wl.size} values). Resample them first, e.g. with "
            "WavelengthResampler(target=source.wavelengths_) or "
            "resample_spectra(X, wavelengths, source.wavelengths_)."
        )
    if tuple(estimator.input_shape_) != tuple(source.input_shape_):
        what = "spectrograms of" if source.architecture == "spectrogram2d" else "spectra of"
        hint = (
            "Use the source's Spectrogram settings and wavelength grid."
            if source.architecture == "spectrogram2d"
            else "Resample the spectra onto the source's wavelength grid "
            "(WavelengthResampler / resample_spectra)."
        )
        raise ValueError(
            f"The source model takes {what} shape {tuple(source.input_shape_)}, the local "
            f"data has shape {tuple(estimator.input_shape_)}. {hint}"
        )


@dataclass
class WarmStart:
    """What a fit copies from its source: scalers, carried and new heads.

    ``head_rescale`` maps each carried head's output from the source's
    target scaling to the local one (``restandardize_targets``):
    ``(factor, shift)`` with ``z_local = factor * z_source + shift``.
    """

    source: object
    x_scaler: tuple
    y_scaler: tuple
    carried: list = field(default_factory=list)
    new: list = field(default_factory=list)
    domain_standardized: bool = False
    head_rescale: dict = field(default_factory=dict)

    @classmethod
    def from_estimator(cls, estimator, X, Y):
        """Resolve ``estimator.warm_start_from`` and check it against the local data.

        A source trained with per-domain standardisation
        (``domain_standardize=True`` and domains) learnt within-domain
        relations: the local data is then standardised with its own input and
        target statistics. Otherwise the source's input scaling is kept (its
        filters were learnt on it) and its target scaling too, unless
        ``restandardize_targets`` re-expresses the carried heads in the local
        one.

        Returns None when the estimator has no warm start.
        """
        if estimator.warm_start_from is None:
            return None
        source, _ = resolve_source(estimator.warm_start_from)
        check_input_contract(estimator, source)
        names = estimator.target_names_
        carried = [] if estimator.reset_heads else [
            n for n in names if n in source.target_names_
        ]
        new = [n for n in names if n not in carried]
        mean, scale = _nan_scaler(Y)
        if getattr(source, "domain_standardized_", False) and estimator.domain_standardize:
            x_scaler = estimator._fit_x_scaler(X) if source.x_mean_ is not None else (None, None)
            return cls(source, x_scaler, (mean, scale), carried, new, domain_standardized=True)
        # The input scaling is the source's: its filters were learnt on it.
        x_scaler = (
            (None, None)
            if source.x_mean_ is None
            else (source.x_mean_.copy(), source.x_scale_.copy())
        )
        rescale = {}
        for j, n in enumerate(names):
            if n in carried:
                k = source.target_names_.index(n)
                if estimator.restandardize_targets:
                    # z_loc = (z_src * s_src + m_src - m_loc) / s_loc
                    s_src, m_src = source.y_scale_[k], source.y_mean_[k]
                    rescale[n] = (s_src / scale[j], (m_src - mean[j]) / scale[j])
                else:
                    mean[j], scale[j] = source.y_mean_[k], source.y_scale_[k]
        return cls(source, x_scaler, (mean, scale), carried, new, head_rescale=rescale)

    def copy_weights(self, module):
        """Load the source's features, trunk and carried heads into ``module``."""
        src = self.source.net_.module_
        module.features.load_state_dict(src.features.state_dict())
        module.shared.load_state_dict(src.shared.state_dict())
        for name in self.carried:
            module.heads[name].load_state_dict(src.heads[name].state_dict())
            if name in self.head_rescale:
                factor, shift = self.head_rescale[name]
                head = module.heads[name]
                last = [m for m in head.modules() if isinstance(m, torch.nn.Linear)][-1]
                with torch.no_grad():
                    last.weight.mul_(float(factor))
                    last.bias.mul_(float(factor)).add_(float(shift))


def recompute_norm_statistics(module, dataset, carried_heads=None, batch_size=256):
    """AdaBN: re-estimate every batch-norm layer's statistics on ``dataset``.

    The running means and variances are reset and accumulated as plain
    averages over the local training spectra (dropout off, no gradients),
    then kept fixed for the fine-tuning, as ``adapt_batchnorm=False`` does
    with the source's (Li et al., 2018, "Adaptive batch normalization for
    practical domain adaptation").
    """
    heads = module.heads.keys() if carried_heads is None else carried_heads
    parts = [module.features, module.shared] + [module.heads[n] for n in heads]
    # New heads keep learning their own statistics, as without AdaBN.
    norms = [m for part in parts for m in part.modules() if isinstance(m, _NORMS)]
    if not norms:
        return
    saved = [(m.momentum, getattr(m, "frozen_statistics", None)) for m in norms]
    was_training = module.training
    module.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all batches
        m.train()
        if hasattr(m, "frozen_statistics"):
            m.frozen_statistics = False
    X = dataset.X[dataset.rows]
    device = next(module.parameters()).device
    with torch.no_grad():
        for start in range(0, X.shape[0], batch_size):
            chunk = X[start:start + batch_size]
            if chunk.shape[0] > 1:
                module(chunk.to(device))
    for m, (momentum, frozen) in zip(norms, saved):
        m.momentum = momentum
        m.eval()
        if frozen is None:
            _fix_norm_statistics(m)
        else:
            m.frozen_statistics = True
    module.train(was_training)


def _frozen_modules(module, freeze_layers, target_names):
    """Map ``freeze_layers`` onto submodules; unknown names are a clear error."""
    if freeze_layers is None:
        return {}
    n_blocks = len(module.features)
    if isinstance(freeze_layers, Integral) and not isinstance(freeze_layers, bool):
        if freeze_layers > n_blocks:
            raise ValueError(
                f"freeze_layers={freeze_layers} but the network has only {n_blocks} "
                "convolution blocks."
            )
        return {f"features.{i}": module.features[i] for i in range(freeze_layers)}
    names = [freeze_layers] if isinstance(freeze_layers, str) else list(freeze_layers)
    valid = ["features", "shared", "heads"] + [f"heads.{t}" for t in target_names]
    out = {}
    for name in names:
        if name not in valid:
            raise ValueError(
                f"freeze_layers names an unknown layer group {name!r}; valid: {valid} or an "
                "int for the first convolution blocks."
            )
        out[name] = module.get_submodule(name)
    return out


def check_fine_tuning_options(estimator):
    """Warn about fine-tuning settings that would have no effect.

    Like scikit-learn's ``l1_ratio`` without ``penalty="elasticnet"``: a
    warning rather than an error, so a grid over ``freeze_layers`` with a
    fixed ``unfreeze_after`` still runs, but never a silent no-op.
    """
    if estimator.unfreeze_after is not None and estimator.freeze_layers is None:
        warnings.warn(
            f"unfreeze_after={estimator.unfreeze_after} has no effect: it releases frozen "
            "layers, and freeze_layers is None.", UserWarning, stacklevel=3,
        )
    if estimator.lr_features is not None and estimator.unfreeze_after is None:
        warnings.warn(
            f"lr_features={estimator.lr_features} has no effect: it is the learning rate of "
            "the layers released after unfreeze_after, and unfreeze_after is None.",
            UserWarning, stacklevel=3,
        )


def prepare_module(estimator, module, warm):
    """Apply the warm start and freezing to a freshly built module.

    Called once by :meth:`SpectralCNNRegressor.fit`, before the optimizer is
    created, so frozen parameters never enter it.

    Returns
    -------
    callbacks : list of (name, skorch Callback)
    """
    if warm is not None:
        warm.copy_weights(module)
        if not estimator.adapt_batchnorm:
            # A few batches of one site would drag the running statistics far
            # from the source's (LimeSoDa: RMSE doubled within one epoch even
            # at lr=1e-5), so the copied layers keep them.
            for part in [module.features, module.shared] + [module.heads[n] for n in warm.carried]:
                _fix_norm_statistics(part)
    frozen = _frozen_modules(module, estimator.freeze_layers, estimator.target_names_)
    if not frozen:
        return []
    for sub in frozen.values():
        sub.requires_grad_(False)
        _fix_norm_statistics(sub)
    release_statistics = warm is None or estimator.adapt_batchnorm
    return [("frozen_layers", FrozenLayers(list(frozen), estimator.unfreeze_after,
                                           estimator.lr_features, release_statistics))]


_NORMS = (torch.nn.modules.batchnorm._BatchNorm,)


def _fix_norm_statistics(sub):
    for m in sub.modules():
        if isinstance(m, _NORMS):
            if not hasattr(m, "frozen_statistics"):
                m.register_forward_pre_hook(_keep_frozen_norm_in_eval)
            m.frozen_statistics = True


def _keep_frozen_norm_in_eval(module, args):
    # skorch puts the whole network in train mode inside every training step
    # (after on_batch_begin, so no callback can undo it in time); switching
    # back right before the forward pass keeps the running statistics fixed.
    if module.frozen_statistics:
        module.eval()


class FrozenLayers(Callback):
    """Release frozen layers after ``unfreeze_after`` epochs (gradual unfreezing).

    Parameters
    ----------
    names : list of str
        Dotted names of the frozen submodules.
    unfreeze_after : int or None
        Release them at the start of epoch ``unfreeze_after + 1``.
    lr_features : float or None
        Learning rate of the released parameters (the current one if None).
    release_statistics : bool
        Whether released batch-norm layers resume updating their running
        statistics (not for warm-started layers unless ``adapt_batchnorm``).
    """

    def __init__(self, names, unfreeze_after=None, lr_features=None, release_statistics=True):
        self.names = names
        self.unfreeze_after = unfreeze_after
        self.lr_features = lr_features
        self.release_statistics = release_statistics

    def on_epoch_begin(self, net, **kwargs):
        # skorch has already opened this epoch's history row.
        if self.unfreeze_after is None or len(net.history) != self.unfreeze_after + 1:
            return
        params = []
        for name in self.names:
            sub = net.module_.get_submodule(name)
            for m in sub.modules():
                if isinstance(m, _NORMS) and self.release_statistics:
                    m.frozen_statistics = False
            for p in sub.parameters():
                p.requires_grad_(True)
                params.append(p)
        lr = self.lr_features if self.lr_features is not None else net.optimizer_.param_groups[0]["lr"]
        net.optimizer_.add_param_group({"params": params, "lr": lr})


def transfer_report(warm, before, after, evaluated_on):
    """Source model vs fine-tuned model on the local validation data."""
    return {
        "evaluated_on": evaluated_on,
        "carried_targets": list(warm.carried),
        "new_targets": list(warm.new),
        "loss_before": before["loss"],
        "loss_after": after["loss"],
        "rmse_before": before["rmse"],
        "rmse_after": after["rmse"],
    }


# ---------------------------------------------------------------------------
# Model files
# ---------------------------------------------------------------------------

_ESTIMATOR_PATH = "sklearn_soilspec.neural.SpectralCNNRegressor"
_SKLEARN_STEPS = {
    "sklearn.preprocessing.StandardScaler",
    "sklearn.preprocessing.MinMaxScaler",
    "sklearn.preprocessing.MaxAbsScaler",
    "sklearn.preprocessing.RobustScaler",
    "sklearn.decomposition.PCA",
}
_REGRESSOR_STATE = (
    "target_names_", "n_features_in_", "feature_names_in_", "input_shape_", "wavelengths_",
    "x_mean_", "x_scale_", "y_mean_", "y_scale_", "training_summary_", "transfer_report_",
    "_y_is_1d", "domain_standardized_",
)
# Parameters holding live objects of this process (the fitted source model,
# the accelerator with its distributed state): never stored, so a loaded
# model gets their defaults.
_RUNTIME_PARAMS = ("warm_start_from", "accelerator")
_OUTPUT_CONTAINERS = ("default", "pandas", "polars")


def _allowed_class(path):
    """Class for an allow-listed path; never imports a module named by a file."""
    if path == _ESTIMATOR_PATH:
        return SpectralCNNRegressor
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
                 f"{cls.__module__.split('._')[0]}.{cls.__name__}", _ESTIMATOR_PATH):
        if _allowed_class(path) is cls:
            return path
    raise ValueError(
        f"Cannot save a {cls.__module__}.{cls.__name__} step: model files hold only "
        "sklearn_soilspec.preprocessing transformers and "
        f"{sorted(_SKLEARN_STEPS)}, so that loading a file never runs foreign code."
    )


class _Encoder:
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


def _fitted_state(obj):
    return {k: v for k, v in vars(obj).items() if k.endswith("_") and not k.startswith("__")}


def _output_config(step):
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


def save_model(model, path, *, unit=None, target_units=None, description=""):
    """Write a fitted model to a shareable file that loads without running code.

    Parameters
    ----------
    model : SpectralCNNRegressor or Pipeline ending in one
        Fitted. Pipeline steps must be ``sklearn_soilspec.preprocessing``
        transformers or sklearn scalers/PCA.
    path : str or PathLike
        Output file; ``.soilspec`` by convention.
    unit : {"nm", "cm-1"} or None, default=None
        Unit of the wavelength grid, stored for the users of the file.
    target_units : dict or None, default=None
        Unit of each property, e.g. ``{"OC": "%"}``.
    description : str, default=""
        Free text (data source, licence, contact).

    Returns
    -------
    path : str

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from sklearn_soilspec.neural import SpectralCNNRegressor
    >>> from sklearn_soilspec.transfer import save_model, load_model
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(40, 16)), rng.normal(size=40)
    >>> model = SpectralCNNRegressor(module_params={"channels": (4,), "shared_units": (8,),
    ...                                             "head_units": 8},
    ...                              max_epochs=2, random_state=0).fit(X, y)
    >>> path = save_model(model, os.path.join(tempfile.mkdtemp(), "demo.soilspec"))
    >>> np.allclose(load_model(path).predict(X), model.predict(X))
    True
    """
    path = os.fspath(path)
    steps = model.steps if isinstance(model, Pipeline) else [("model", model)]
    final = steps[-1][1]
    if not isinstance(final, SpectralCNNRegressor):
        raise TypeError(
            f"save_model needs a SpectralCNNRegressor or a Pipeline ending in one, got "
            f"{type(final).__name__}."
        )
    check_is_fitted(final, "net_")
    enc = _Encoder()
    step_meta = []
    for i, (name, step) in enumerate(steps[:-1]):
        step_meta.append({
            "name": name,
            "class": _class_path(step),
            "params": enc(step.get_params(deep=False), f"steps.{i}.params"),
            "fitted": enc(_fitted_state(step), f"steps.{i}"),
            "output": _output_config(step),
        })
    params = final.get_params(deep=False)
    if hasattr(params.get("augment"), "get_params"):
        # A SpectralAugmenter is stored as its settings, which it is.
        params["augment"] = params["augment"].get_params()
    runtime = {k: params.pop(k, None) for k in _RUNTIME_PARAMS}
    source = runtime["warm_start_from"]
    state = {k: getattr(final, k) for k in _REGRESSOR_STATE if hasattr(final, k)}
    module_state = {f"module.{k}": v.detach().cpu().clone()
                    for k, v in final.net_.module_.state_dict().items()}
    history = [{k: v for k, v in epoch.items() if k != "batches"} for epoch in final.history_]
    wavelengths = final.wavelengths_
    first = steps[0][1]
    if isinstance(model, Pipeline) and getattr(first, "feature_names_in_", None) is not None:
        from ..preprocessing import resolve_wavelengths

        wavelengths = resolve_wavelengths(
            feature_names=first.feature_names_in_, required=False
        )
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "kind": "pipeline" if isinstance(model, Pipeline) else "estimator",
        "architecture": final.architecture,
        "module_params": _module_config(final),
        "input_shape": list(final.input_shape_),
        "wavelengths": None if wavelengths is None else np.asarray(wavelengths).tolist(),
        "unit": unit,
        "targets": {
            "names": list(final.target_names_),
            "units": dict(target_units or {}),
            "mean": final.y_mean_.tolist(),
            "scale": final.y_scale_.tolist(),
        },
        "training": {"summary": final.training_summary_, "history": enc(history, "history"),
                     "warm_started_from": None if source is None else (
                         os.fspath(source) if isinstance(source, (str, os.PathLike))
                         else type(source).__name__)},
        "description": description,
        "steps": step_meta,
        "estimator": {
            "name": steps[-1][0],
            "class": _ESTIMATOR_PATH,
            "params": enc(params, "estimator.params"),
            "fitted": enc(state, "estimator"),
        },
    }
    buf = io.BytesIO()
    torch.save({**enc.tensors, **module_state}, buf)
    weights = buf.getvalue()
    meta["weights_sha256"] = hashlib.sha256(weights).hexdigest()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", json.dumps(meta, indent=1))
        zf.writestr("weights.pt", weights)
    return path


def read_metadata(path):
    """The JSON metadata of a model file (grid, targets, training summary), checked.

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    metadata : dict
    """
    meta, _ = _read_archive(path, weights=False)
    return meta


def _read_archive(path, weights=True):
    path = os.fspath(path)
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            missing = {"metadata.json", "weights.pt"} - names
            if missing:
                raise ValueError(f"{path}: not a model file, it lacks {sorted(missing)}.")
            raw_meta = zf.read("metadata.json")
            raw_weights = zf.read("weights.pt") if weights else None
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as exc:
        raise ValueError(
            f"{path}: not a readable sklearn-soilspec model file (a zip archive with "
            f"metadata.json and weights.pt): {exc}. It may be truncated or not a model file."
        ) from None
    try:
        meta = json.loads(raw_meta.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: metadata.json is not valid JSON ({exc}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ValueError(f"{path}: metadata.json does not describe a {FORMAT_NAME} file.")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: written in model file format version {meta.get('format_version')!r}; "
            f"this version of sklearn-soilspec reads version {FORMAT_VERSION}."
        )
    if raw_weights is None:
        return meta, None
    if hashlib.sha256(raw_weights).hexdigest() != meta.get("weights_sha256"):
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


def _restore(entry, tensors, where):
    cls = _allowed_class(entry.get("class"))
    if cls is None:
        raise ValueError(
            f"{where}: class {entry.get('class')!r} is not allowed in model files "
            "(sklearn_soilspec.preprocessing transformers, sklearn scalers/PCA and "
            "SpectralCNNRegressor only)."
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


def load_model(path, device="cpu"):
    """Read a file written by :func:`save_model`; no code in it is executed.

    Parameters
    ----------
    path : str or PathLike
    device : str, default="cpu"
        Torch device for the network.

    Returns
    -------
    model : SpectralCNNRegressor or Pipeline
        Fitted, predicting exactly as the saved model did.

    Raises
    ------
    ValueError
        If the file is not a model file, is truncated or edited, uses
        another format version, names a class outside the allow-list or its
        weights are anything but plain tensors.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, pandas as pd
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_soilspec.neural import SpectralCNNRegressor
    >>> from sklearn_soilspec.preprocessing import SNV, WavelengthResampler
    >>> from sklearn_soilspec.transfer import load_model, read_metadata, save_model
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame(rng.normal(size=(40, 50)), columns=[str(w) for w in range(400, 500, 2)])
    >>> y = X.to_numpy()[:, :5].sum(axis=1)
    >>> net = SpectralCNNRegressor(module_params={"channels": (4,), "shared_units": (8,),
    ...                                           "head_units": 8}, max_epochs=2, random_state=0)
    >>> pipe = make_pipeline(WavelengthResampler(target=(404, 490, 4)), SNV(), net)
    >>> pipe = pipe.set_output(transform="pandas").fit(X, y)
    >>> path = save_model(pipe, os.path.join(tempfile.mkdtemp(), "oc.soilspec"), unit="nm")
    >>> model = load_model(path)
    >>> [name for name, _ in model.steps]
    ['wavelengthresampler', 'snv', 'spectralcnnregressor']
    >>> np.allclose(model.predict(X), pipe.predict(X))
    True
    >>> read_metadata(path)["unit"]
    'nm'
    """
    meta, tensors = _read_archive(path)
    where = os.fspath(path)
    try:
        est = _restore(meta["estimator"], tensors, where)
        if not isinstance(est, SpectralCNNRegressor):
            raise ValueError(f"{where}: the final estimator is not a SpectralCNNRegressor.")
        est.set_params(device=device, warm_start_from=None)
        est.input_shape_ = tuple(est.input_shape_)
        est.target_names_ = list(est.target_names_)
        module = est._make_module()
        state = {k[len("module."):]: v for k, v in tensors.items() if k.startswith("module.")}
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(
                f"{where}: the weights do not fit the network described in metadata.json "
                f"({str(exc).splitlines()[0]})."
            ) from None
        est.net_ = est._make_net(module, None, 0, [])
        est.net_.initialize()
        history = _decode(meta["training"]["history"], tensors, where)
        est.net_.history = History(history)
        est.history_ = est.net_.history
        steps = [
            (s["name"], _restore(s, tensors, f"{where} (step {s['name']!r})"))
            for s in meta.get("steps", [])
        ]
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{where}: incomplete or inconsistent metadata ({exc!r}).") from None
    if meta.get("kind") == "pipeline":
        return Pipeline(steps + [(meta["estimator"]["name"], est)])
    return est


# ---------------------------------------------------------------------------
# Negative-transfer guard
# ---------------------------------------------------------------------------


def _final_step(estimator):
    return estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator


def _set_final(estimator, **params):
    if isinstance(estimator, Pipeline):
        name = estimator.steps[-1][0]
        params = {f"{name}__{k}": v for k, v in params.items()}
    return estimator.set_params(**params)


class TransferSelector(RegressorMixin, BaseEstimator):
    """Keep transfer learning only where it helps: transfer vs local vs source.

    Fits the transfer model (a warm-started ``SpectralCNNRegressor`` or a
    Pipeline ending in one) and a local-only model on part of the local data,
    optionally scores the source model as it is, and compares them on the
    held-out rest (mean R2 over properties). The winner is refitted on all
    the local data (the source model is only carried over).

    Parameters
    ----------
    transfer_estimator : estimator
        A ``SpectralCNNRegressor`` or Pipeline ending in one, usually with
        ``warm_start_from`` set.
    local_estimator : estimator or None, default=None
        The local-only competitor; by default the transfer estimator without
        ``warm_start_from`` and freezing, i.e. the same network trained from
        scratch on the local data.
    include_source : bool, default=True
        Also score the source model as it is (its weights, no training);
        skipped if it cannot predict every local property.
    validation_fraction : float, default=0.2
        Share of the local samples used to compare the candidates.
    refit : bool, default=True
        Refit the winner on all local samples.
    random_state : int, RandomState instance or None, default=None
        Seeds the comparison split.

    Attributes
    ----------
    selected_ : str
        "transfer", "local" or "source".
    scores_ : dict
        Held-out mean R2 of each candidate.
    selection_report_ : dict
        Scores, RMSE per property and candidate, split sizes and the reason.
    best_estimator_ : estimator
        The fitted winner, used by ``predict``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_soilspec.neural import SpectralCNNRegressor
    >>> from sklearn_soilspec.transfer import TransferSelector
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 16)); y = X[:, :4].sum(1)
    >>> tiny = dict(module_params={"channels": (4,), "shared_units": (8,), "head_units": 8},
    ...             max_epochs=2, random_state=0)
    >>> source = SpectralCNNRegressor(**tiny).fit(X, y)
    >>> guard = TransferSelector(SpectralCNNRegressor(warm_start_from=source, **tiny),
    ...                          random_state=0).fit(X, y)
    >>> sorted(guard.scores_)
    ['local', 'source', 'transfer']
    """

    _parameter_constraints = {
        "transfer_estimator": [HasMethods(["fit", "predict"])],
        "local_estimator": [HasMethods(["fit", "predict"]), None],
        "include_source": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "refit": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(self, transfer_estimator, local_estimator=None, include_source=True,
                 validation_fraction=0.2, refit=True, random_state=None):
        self.transfer_estimator = transfer_estimator
        self.local_estimator = local_estimator
        self.include_source = include_source
        self.validation_fraction = validation_fraction
        self.refit = refit
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        # Small networks trained briefly on the common checks' toy data.
        tags.regressor_tags.poor_score = True
        return tags

    def _candidates(self, y_names):
        transfer = clone(self.transfer_estimator)
        if not isinstance(_final_step(transfer), SpectralCNNRegressor):
            raise TypeError(
                "transfer_estimator must be a SpectralCNNRegressor or a Pipeline ending in "
                f"one, got {type(_final_step(transfer)).__name__}."
            )
        local = (
            clone(self.local_estimator)
            if self.local_estimator is not None
            else _set_final(clone(transfer), warm_start_from=None, freeze_layers=None,
                            unfreeze_after=None, reset_heads=False)
        )
        out, skipped = {"transfer": transfer, "local": local}, {}
        source_from = _final_step(transfer).warm_start_from
        if source_from is None:
            out.pop("transfer")
            skipped["transfer"] = "transfer_estimator has no warm_start_from"
        elif self.include_source:
            source, _ = resolve_source(source_from)
            missing = [n for n in y_names if n not in source.target_names_]
            if missing:
                skipped["source"] = f"the source model does not predict {missing}"
            else:
                # The source's weights through the local preprocessing, untrained.
                out["source"] = _set_final(clone(transfer), max_epochs=0, freeze_layers=None,
                                           unfreeze_after=None, reset_heads=False)
        return out, skipped

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit the candidates, compare them on held-out local data, keep the best.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets); NaN allowed

        Returns
        -------
        self : TransferSelector
        """
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        # Checked here for clear errors, but passed on as given: a Pipeline
        # candidate may need the DataFrame's wavelength column names.
        validate_data(self, X, reset=True, dtype=None, allow_nd=True, ensure_all_finite=False)
        names = list(y.columns) if hasattr(y, "columns") else None
        y_arr = check_array(y, ensure_2d=False, dtype=np.float64, ensure_all_finite="allow-nan",
                            input_name="y")
        if names is None:
            names = _final_step(self.transfer_estimator).target_names or [
                f"target_{j}" for j in range(1 if y_arr.ndim == 1 else y_arr.shape[1])
            ]
        candidates, skipped = self._candidates([str(n) for n in names])
        n = len(y_arr)
        if n < 4:
            raise ValueError(
                f"TransferSelector needs at least 4 samples to compare models, got {n} sample(s)."
            )
        train, valid = next(ShuffleSplit(1, test_size=self.validation_fraction,
                                         random_state=self.random_state).split(np.arange(n)))
        take = (lambda a, rows: a.iloc[rows]) if hasattr(X, "iloc") else (
            lambda a, rows: np.asarray(a)[rows])
        ytake = (lambda rows: y.iloc[rows]) if hasattr(y, "iloc") else (lambda rows: y_arr[rows])
        scores, rmse = {}, {}
        for name, est in candidates.items():
            est.fit(take(X, train), ytake(train))
            pred = est.predict(take(X, valid))
            truth = y_arr[valid]
            scores[name] = nan_r2_score(truth, pred)
            rmse[name] = dict(zip(map(str, names), map(float, rmse_per_target(
                truth.reshape(len(valid), -1), np.asarray(pred).reshape(len(valid), -1)))))
        self.scores_ = scores
        self.selected_ = max(scores, key=lambda k: (np.nan_to_num(scores[k], nan=-np.inf)))
        winner = candidates[self.selected_]
        if self.refit:
            winner = clone(winner).fit(X, y)
        self.best_estimator_ = winner
        others = {k: v for k, v in scores.items() if k != self.selected_}
        self.selection_report_ = {
            "scores": scores,
            "rmse": rmse,
            "n_train": int(len(train)),
            "n_valid": int(len(valid)),
            "skipped": skipped,
            "reason": (
                f"{self.selected_!r} has the highest held-out mean R2 ({scores[self.selected_]:.3f}"
                + (", vs " + ", ".join(f"{k} {v:.3f}" for k, v in others.items()) if others else "")
                + ")"
            ),
        }
        return self

    def predict(self, X):
        """Predict with the selected model."""
        check_is_fitted(self, "best_estimator_")
        validate_data(self, X, reset=False, dtype=None, allow_nd=True, ensure_all_finite=False)
        return self.best_estimator_.predict(X)

    def score(self, X, y, sample_weight=None):
        """Mean R2 over properties, ignoring NaNs (see ``nan_r2_score``)."""
        return nan_r2_score(y, self.predict(X), sample_weight=sample_weight)
