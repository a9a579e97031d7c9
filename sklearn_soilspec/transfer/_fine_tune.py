"""Fine-tuning a source network on local data: check, copy, freeze, batch norm, report.

Everything here works on a :class:`~sklearn_soilspec.transfer.SourceModel`
and a freshly built torch module; ``SpectralCNNRegressor.fit`` calls it in
this order:

1. :func:`check_compatible` - same architecture, network sizes, input shape
   and wavelength grid, or an error that says what to change;
2. :func:`plan_warm_start` - which heads are carried and which are new, and
   the input and target scaling (the source's, or the local data's own for a
   source trained per domain);
3. :func:`copy_weights` and :func:`freezing` - the source's layers into the
   module, the frozen groups as skorch ``Freezer`` / ``Unfreezer``
   callbacks, batch-norm statistics kept fixed where they came from the
   source (:func:`fix_norm_statistics`) or re-estimated once
   (:func:`recompute_norm_statistics`, AdaBN);
4. :func:`transfer_report` - the source's and the fine-tuned model's
   validation error, so that negative transfer is visible.
"""

import warnings
from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
import torch
from skorch.callbacks import Freezer, Unfreezer


__all__ = [
    "WarmStart",
    "check_compatible",
    "check_fine_tuning_options",
    "copy_weights",
    "fix_norm_statistics",
    "freezing",
    "plan_warm_start",
    "recompute_norm_statistics",
    "transfer_report",
]

_NORMS = (torch.nn.modules.batchnorm._BatchNorm,)
# Below this many measured local rows a property's SD is pooled with the
# source's (see shrunk_target_scaler); above it the local SD is used as is.
MIN_ROWS_LOCAL_SCALE = 20


def check_fine_tuning_options(freeze_layers, unfreeze_after, lr_features, stacklevel=4):
    """Warn about fine-tuning settings that would have no effect.

    Like scikit-learn's ``l1_ratio`` without ``penalty="elasticnet"``: a
    warning rather than an error, so a grid over ``freeze_layers`` with a
    fixed ``unfreeze_after`` still runs, but never a silent no-op.
    """
    if unfreeze_after is not None and freeze_layers is None:
        warnings.warn(
            f"unfreeze_after={unfreeze_after} has no effect: it releases frozen "
            "layers, and freeze_layers is None.", UserWarning, stacklevel=stacklevel,
        )
    if lr_features is not None and unfreeze_after is None:
        warnings.warn(
            f"lr_features={lr_features} has no effect: it is the learning rate of "
            "the layers released after unfreeze_after, and unfreeze_after is None.",
            UserWarning, stacklevel=stacklevel,
        )


def check_compatible(source, architecture, module_params, input_shape, wavelengths):
    """Raise a ValueError saying what differs between a local fit and its source.

    Parameters
    ----------
    source : SourceModel
    architecture, module_params : the local estimator's settings
    input_shape : tuple of int
        Shape of one local sample as the network receives it.
    wavelengths : ndarray or None
        The local network input's wavelength grid, None when its columns are
        not named by wavelength (then a source that knows its grid warns that
        the grid could not be checked).
    """
    from ..neural._modules import module_config  # deferred: see SourceModel.build_module

    if architecture != source.architecture:
        raise ValueError(
            f"The source model is a {source.architecture!r} network but "
            f"architecture={architecture!r}: set architecture="
            f"{source.architecture!r} to warm-start from it."
        )
    here, there = module_config(architecture, module_params), source.module_config
    differ = {k: (here.get(k), there.get(k)) for k in set(here) | set(there)
              if here.get(k) != there.get(k)}
    if differ:
        detail = ", ".join(f"{k}: {a!r} here vs {b!r} in the source" for k, (a, b) in
                           sorted(differ.items()))
        raise ValueError(
            f"module_params differ from the source model's ({detail}); a warm start needs "
            "the same network: copy module_params from the source."
        )
    src_wl = source.wavelengths
    if src_wl is not None and wavelengths is not None and (
        np.shape(src_wl) != np.shape(wavelengths) or not np.allclose(src_wl, wavelengths)
    ):
        wl = np.asarray(wavelengths)
        raise ValueError(
            f"The local spectra are on a different wavelength grid ({wl[0]:g}-{wl[-1]:g}, "
            f"{wl.size} values) than the source model ({src_wl[0]:g}-{src_wl[-1]:g}, "
            f"{src_wl.size} values). Resample them first, e.g. with "
            "WavelengthResampler(target=<the source's wavelengths>) or resample_spectra."
        )
    if tuple(input_shape) != tuple(source.input_shape):
        spectrogram = source.architecture == "spectrogram2d"
        what = "spectrograms of" if spectrogram else "spectra of"
        hint = (
            "Use the source's Spectrogram settings and wavelength grid." if spectrogram
            else "Resample the spectra onto the source's wavelength grid "
            "(WavelengthResampler / resample_spectra)."
        )
        raise ValueError(
            f"The source model takes {what} shape {tuple(source.input_shape)}, the local "
            f"data has shape {tuple(input_shape)}. {hint}"
        )
    if src_wl is not None and wavelengths is None and source.architecture == "conv1d":
        warnings.warn(
            f"The source model was trained on wavelengths {src_wl[0]:g}-{src_wl[-1]:g}, but "
            "the local spectra reach the network without wavelength column names, so their "
            "grid cannot be checked. Pass a DataFrame whose columns are the wavelengths (in a "
            "Pipeline: .set_output(transform='pandas')).", UserWarning, stacklevel=4,
        )


@dataclass
class WarmStart:
    """What a fit takes from its source: scalers, carried and new heads.

    ``head_rescale`` maps each carried head's output from the source's
    target scaling to the local one (``restandardize_targets``):
    ``(factor, shift)`` with ``z_local = factor * z_source + shift``.
    ``local_scaling`` is True when the local data is scaled with its own
    statistics (a source trained per domain).
    """

    x_scaler: tuple
    y_scaler: tuple
    carried: list = field(default_factory=list)
    new: list = field(default_factory=list)
    local_scaling: bool = False
    head_rescale: dict = field(default_factory=dict)


def plan_warm_start(source, target_names, X, Y, *, reset_heads=False,
                    restandardize_targets=False):
    """Heads to carry and the scaling of the local data.

    A source trained per domain (``standardize="per_domain"``) learnt
    within-domain relations: the local data, one more domain, is scaled
    with its own input and target statistics; a property measured on fewer
    than ``MIN_ROWS_LOCAL_SCALE`` local rows has its SD pooled with the
    source's (:func:`~sklearn_soilspec.neural._scaling.shrunk_target_scaler`),
    so a handful of values cannot blow the head's output up. Otherwise the
    source's input scaling is kept (its filters were learnt on it) and its
    target scaling too, unless ``restandardize_targets`` re-expresses the
    carried heads in the local one.

    Parameters
    ----------
    source : SourceModel
    target_names : list of str
        The local properties, in the order of the columns of ``Y``.
    X : ndarray of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_targets), NaN where not measured

    Returns
    -------
    plan : WarmStart
    """
    from ..neural._scaling import fit_x_scaler, nan_scaler, shrunk_target_scaler

    carried = [] if reset_heads else [n for n in target_names if n in source.target_names]
    new = [n for n in target_names if n not in carried]
    if not carried and not reset_heads:
        by_case = {s.lower(): s for s in source.target_names}
        close = {n: by_case[n.lower()] for n in target_names if n.lower() in by_case}
        hint = (f" Did you mean {close}? Names must match exactly." if close else
                " Name the columns of y (a DataFrame, or target_names=) as the source does.")
        warnings.warn(
            f"No property of y ({list(target_names)}) matches a head of the source model "
            f"({list(source.target_names)}): only the convolutions and trunk are carried, "
            f"every head starts from random weights.{hint}", UserWarning, stacklevel=4,
        )
    _check_preprocessing(source, X)
    mean, scale = nan_scaler(Y)
    index = [source.target_names.index(n) if n in carried else None for n in target_names]
    if source.standardize == "per_domain":
        x_scaler = fit_x_scaler(X, "pooled") if source.x_mean is not None else (None, None)
        few = (~np.isnan(Y)).sum(axis=0) < MIN_ROWS_LOCAL_SCALE
        for j, k in enumerate(index):
            if few[j] and k is not None:
                m, s = shrunk_target_scaler(Y[:, [j]], source.y_mean[[k]], source.y_scale[[k]])
                mean[j], scale[j] = m[0], s[0]
        return WarmStart(x_scaler, (mean, scale), carried, new, local_scaling=True)
    x_scaler = ((None, None) if source.x_mean is None
                else (np.array(source.x_mean, copy=True), np.array(source.x_scale, copy=True)))
    rescale = {}
    for j, k in enumerate(index):
        if k is None:
            continue
        s_src, m_src = float(source.y_scale[k]), float(source.y_mean[k])
        if restandardize_targets:
            # z_loc = (z_src * s_src + m_src - m_loc) / s_loc
            rescale[target_names[j]] = (s_src / scale[j], (m_src - mean[j]) / scale[j])
        else:
            mean[j], scale[j] = m_src, s_src
    return WarmStart(x_scaler, (mean, scale), carried, new, head_rescale=rescale)


def _check_preprocessing(source, X):
    """Warn when the local spectra look unlike the source network's inputs.

    A source Pipeline's steps (SNV, a derivative, ...) come before its
    network; warm-starting a bare network from it skips them unless the user
    puts the same steps before it, and the carried filters then see inputs of
    another kind (a trial: RMSE 14.7 before fine-tuning instead of 1.6). The
    local inputs' mean, in the source's standard deviations, tells.
    """
    if source.x_mean is None or X.shape[1] != np.size(source.x_mean):
        return
    z = np.abs(X.mean(axis=0) - source.x_mean) / source.x_scale
    if np.median(z) > 5:
        steps = [name for name, _ in source.preprocessing]
        hint = (f"The source was a Pipeline whose steps {steps} come before the network: "
                "put the same steps before this one (make_pipeline(..., "
                "SpectralCNNRegressor(warm_start_from=...)))." if steps else
                "Check that they get the same preprocessing and measurement (absorbance or "
                "reflectance) as the source's training spectra.")
        warnings.warn(
            f"The local spectra lie a median {np.median(z):.0f} standard deviations from the "
            f"source network's training inputs. {hint}", UserWarning, stacklevel=4)


def copy_weights(module, source, plan):
    """Load the source's features, trunk and carried heads into ``module``."""
    state = source.state_dict
    for part in ("features", "shared"):
        getattr(module, part).load_state_dict(_prefixed(state, part))
    for name in plan.carried:
        head = module.heads[name]
        head.load_state_dict(_prefixed(state, f"heads.{name}"))
        if name in plan.head_rescale:
            factor, shift = plan.head_rescale[name]
            last = [m for m in head.modules() if isinstance(m, torch.nn.Linear)][-1]
            with torch.no_grad():
                last.weight.mul_(float(factor))
                last.bias.mul_(float(factor)).add_(float(shift))


def _prefixed(state, prefix):
    cut = len(prefix) + 1
    return {k[cut:]: v for k, v in state.items() if k.startswith(prefix + ".")}


def layer_groups(module, freeze_layers, target_names):
    """Map ``freeze_layers`` onto submodule names; unknown names are a clear error."""
    if freeze_layers is None:
        return []
    n_blocks = len(module.features)
    if isinstance(freeze_layers, bool):
        raise ValueError(
            f"freeze_layers={freeze_layers!r} is ambiguous: name the layer groups "
            "('features', 'shared', 'heads', 'heads.<target>', a list of these) or give an "
            "int for the first convolution blocks."
        )
    if isinstance(freeze_layers, Integral):
        if freeze_layers > n_blocks:
            raise ValueError(
                f"freeze_layers={freeze_layers} but the network has only {n_blocks} "
                "convolution blocks."
            )
        return [f"features.{i}" for i in range(freeze_layers)]
    names = [freeze_layers] if isinstance(freeze_layers, str) else list(freeze_layers)
    valid = ["features", "shared", "heads"] + [f"heads.{t}" for t in target_names]
    for name in names:
        if name not in valid:
            raise ValueError(
                f"freeze_layers names an unknown layer group {name!r}; valid: {valid} or an "
                "int for the first convolution blocks."
            )
    return names


def freezing(module, groups, unfreeze_after=None, release_statistics=True):
    """skorch callbacks that freeze ``groups`` (and release them after ``unfreeze_after``).

    The frozen layers' batch-norm statistics are fixed now
    (:func:`fix_norm_statistics`), since skorch's ``Freezer`` stops only
    gradients.

    Returns
    -------
    callbacks : list of (str, skorch Callback)

    Raises
    ------
    ValueError
        When ``groups`` cover every parameter: nothing would be trained.
    """
    if not groups:
        return []
    frozen = {id(p) for g in groups for p in module.get_submodule(g).parameters()}
    if all(id(p) in frozen for p in module.parameters()):
        raise ValueError(
            f"freeze_layers={groups} freezes every layer of the network, so fine-tuning would "
            "train nothing. Leave at least the heads trainable (e.g. "
            "freeze_layers=['features', 'shared']), or use max_epochs=0 to take the source "
            "model as it is."
        )
    for g in groups:
        fix_norm_statistics(module.get_submodule(g))
    patterns = [f"{g}.*" for g in groups]
    callbacks = [("freezer", Freezer(patterns, at=1))]
    if unfreeze_after is not None:
        callbacks.append(("unfreezer", _Release(patterns, at=unfreeze_after + 1,
                                                groups=groups,
                                                release_statistics=release_statistics)))
    return callbacks


class _Release(Unfreezer):
    """skorch's ``Unfreezer`` that also lets released batch norms learn statistics again."""

    def __init__(self, patterns, at, groups=(), release_statistics=True, **kwargs):
        super().__init__(patterns, at=at, **kwargs)
        self.groups = groups
        self.release_statistics = release_statistics

    def on_epoch_begin(self, net, **kwargs):
        if self.release_statistics and self.at(net):
            for g in self.groups:
                for m in net.module_.get_submodule(g).modules():
                    if isinstance(m, _NORMS):
                        m.frozen_statistics = False
        super().on_epoch_begin(net, **kwargs)


def fix_norm_statistics(sub):
    """Keep the running statistics of every batch norm in ``sub`` fixed while training."""
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


def carried_parts(module, plan):
    """The submodules whose weights came from the source."""
    return [module.features, module.shared] + [module.heads[n] for n in plan.carried]


def recompute_norm_statistics(module, X, carried_heads=None, batch_size=256):
    """AdaBN: re-estimate every batch-norm layer's statistics on the spectra ``X``.

    The running means and variances are reset and accumulated as plain
    averages over the local training spectra (dropout off, no gradients),
    then kept fixed for the fine-tuning, as the default does with the
    source's (Li et al., 2018, "Adaptive batch normalization for practical
    domain adaptation").
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
            fix_norm_statistics(m)
        else:
            m.frozen_statistics = True
    module.train(was_training)


def transfer_report(plan, before, after, evaluated_on):
    """Source model vs fine-tuned model on the local validation data."""
    return {
        "evaluated_on": evaluated_on,
        "carried_targets": list(plan.carried),
        "new_targets": list(plan.new),
        "local_scaling": bool(plan.local_scaling),
        "loss_before": before["loss"],
        "loss_after": after["loss"],
        "rmse_before": before["rmse"],
        "rmse_after": after["rmse"],
    }
