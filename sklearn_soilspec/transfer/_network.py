"""A fitted network, or a Pipeline ending in one, as model file metadata and tensors, and back.

:func:`network_metadata` turns the estimator into the JSON metadata and the
flat tensor dict of a model file (format version 2); :func:`network_from_metadata`
builds it again. :func:`~sklearn_soilspec.transfer.save_model` writes them
as a file of their own, and the tree format (:mod:`._tree`) embeds them for
every network inside a larger model (the source and the fine-tuned fold
models of a :class:`~sklearn_soilspec.localised.LocalisedRegressor`).
"""

import os

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from .._version import __version__
from ._archive import (
    ESTIMATOR_PATH,
    Encoder,
    _class_path,
    _decode,
    estimator_entry,
    fitted_state,
    output_config,
    source_from_archive,
)

__all__ = []

# Parameters holding live objects of this process (the fitted source model,
# the accelerator with its distributed state): never stored, so a loaded
# model gets their defaults.
RUNTIME_PARAMS = ("warm_start_from", "accelerator")


def network_class():
    # Deferred: the estimator imports this package's lower modules (the
    # source value, the fine-tuning mechanics, the archive); model files sit
    # above it.
    from ..neural import SpectralCNNRegressor

    return SpectralCNNRegressor


def is_network_model(model):
    """Whether ``model`` is a SpectralCNNRegressor or a Pipeline ending in one."""
    final = model.steps[-1][1] if isinstance(model, Pipeline) and model.steps else model
    return isinstance(final, network_class())


def network_metadata(model, unit=None, measurement=None, target_units=None, description=""):
    """``(metadata, tensors)`` of a fitted network or Pipeline ending in one."""
    steps = model.steps if isinstance(model, Pipeline) else [("model", model)]
    final = steps[-1][1]
    if not isinstance(final, network_class()):
        raise TypeError(
            f"save_model needs a SpectralCNNRegressor or a Pipeline ending in one, got "
            f"{type(final).__name__}."
        )
    check_is_fitted(final, "net_")
    enc = Encoder()
    step_meta = []
    for i, (name, step) in enumerate(steps[:-1]):
        step_meta.append({
            "name": name,
            "class": _class_path(step),
            "params": enc(step.get_params(deep=False), f"steps.{i}.params"),
            "fitted": enc(fitted_state(step), f"steps.{i}"),
            "output": output_config(step),
        })
    params = final.get_params(deep=False)
    if hasattr(params.get("augment"), "get_params"):
        # A SpectralAugmenter is stored as its settings, which it is.
        params["augment"] = params["augment"].get_params()
    runtime = {k: params.pop(k, None) for k in RUNTIME_PARAMS}
    origin = runtime["warm_start_from"]
    source = final.export_source()
    state = {k: getattr(final, k) for k in final._FITTED_STATE if hasattr(final, k)}
    module_state = {f"module.{k}": v for k, v in source.state_dict.items()}
    history = [{k: v for k, v in epoch.items() if k != "batches"} for epoch in final.history_]
    wavelengths = final.wavelengths_
    first = steps[0][1]
    if isinstance(model, Pipeline) and getattr(first, "feature_names_in_", None) is not None:
        from ..preprocessing import resolve_wavelengths

        wavelengths = resolve_wavelengths(feature_names=first.feature_names_in_, required=False)
    meta = {
        "package_version": __version__,
        "kind": "pipeline" if isinstance(model, Pipeline) else "estimator",
        "architecture": source.architecture,
        "module_params": source.module_config,
        "input_shape": list(source.input_shape),
        "wavelengths": None if wavelengths is None else np.asarray(wavelengths).tolist(),
        "unit": unit,
        "measurement": measurement,
        "standardize": source.standardize,
        "targets": {
            "names": list(source.target_names),
            "units": dict(target_units or {}),
            "mean": source.y_mean.tolist(),
            "scale": source.y_scale.tolist(),
        },
        "training": {"summary": final.training_summary_, "history": enc(history, "history"),
                     "warm_started_from": None if origin is None else (
                         os.fspath(origin) if isinstance(origin, (str, os.PathLike))
                         else type(origin).__name__)},
        "description": description,
        "steps": step_meta,
        "estimator": {
            "name": steps[-1][0],
            "class": ESTIMATOR_PATH,
            "params": enc(params, "estimator.params"),
            "fitted": enc(state, "estimator"),
        },
    }
    return meta, {**enc.tensors, **module_state}


def network_from_metadata(meta, tensors, where, device="cpu", cls=None):
    """The fitted network (or Pipeline) that :func:`network_metadata` describes.

    ``cls``: the estimator's class when it is a subclass of the network's
    (already checked against an allow-list by the caller).
    """
    source = source_from_archive(meta, tensors, where)
    entry = estimator_entry(meta, where)
    try:
        params = _decode(entry.get("params", {}), tensors, where)
        fitted = _decode(entry.get("fitted", {}), tensors, where)
        history = _decode(meta["training"]["history"], tensors, where)
        est = (cls or network_class())._from_saved(params, fitted, source, history, device)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{where}: incomplete or inconsistent metadata ({exc!r}).") from None
    if meta.get("kind") == "pipeline":
        return Pipeline(source.preprocessing + [(entry["name"], est)])
    return est
