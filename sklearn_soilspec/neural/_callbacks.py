"""Per-property validation error in the units the soil scientist reads."""

import numpy as np
import torch
from skorch.callbacks import Callback

from .._targets import rmse_per_target

__all__ = ["TargetRMSE", "WeightCheckpoints", "rmse_per_target"]


class TargetRMSE(Callback):
    """Record ``valid_rmse_<target>`` in original units after every epoch.

    The training loss lives on standardised targets, which a warm-started
    model shares with its source but a local model does not; RMSE in the
    property's own unit is what makes their validation curves comparable.
    """

    def __init__(self, target_names, y_mean, y_scale):
        self.target_names = list(target_names)
        self.y_mean = np.asarray(y_mean, dtype=np.float64)
        self.y_scale = np.asarray(y_scale, dtype=np.float64)

    def on_epoch_begin(self, net, **kwargs):
        self._true, self._pred = [], []

    def on_batch_end(self, net, batch=None, training=False, y_pred=None, **kwargs):
        if training:
            return
        self._true.append(batch[1].detach().cpu())
        self._pred.append(y_pred.detach().cpu())

    def on_epoch_end(self, net, **kwargs):
        if not self._true:
            return
        Y_true = torch.cat(self._true).numpy() * self.y_scale + self.y_mean
        Y_pred = torch.cat(self._pred).numpy() * self.y_scale + self.y_mean
        for name, value in zip(self.target_names, rmse_per_target(Y_true, Y_pred.reshape(Y_true.shape))):
            net.history.record(f"valid_rmse_{name}", float(value))
        self._true, self._pred = [], []


class WeightCheckpoints(Callback):
    """Keep a copy of the module's weights after chosen epochs (0: before any training).

    One training run then yields the model at every epoch count of
    ``epochs``, so choosing how long to fine-tune costs one run rather than
    one per candidate. Parameters whose names start with a prefix of
    ``skip`` (frozen layers, which never change) are not copied; load a
    checkpoint with ``module.load_state_dict(states_[epoch], strict=False)``.

    Parameters
    ----------
    epochs : iterable of int
        Epoch counts to keep.
    skip : tuple of str, default=()
        Name prefixes of the parameters and buffers left out of the copies.

    Attributes
    ----------
    states_ : dict of int -> dict of str -> Tensor
        The copies, on CPU, by epoch count.
    """

    def __init__(self, epochs, skip=()):
        self.epochs = epochs
        self.skip = skip

    def initialize(self):
        self.states_ = {}
        self._wanted = frozenset(int(e) for e in self.epochs)
        return self

    def keep(self, module, epoch):
        """Copy the current weights of ``module`` as those of ``epoch``."""
        prefixes = tuple(f"{p}." for p in self.skip)
        self.states_[int(epoch)] = {
            k: v.detach().cpu().clone() for k, v in module.state_dict().items()
            if not (prefixes and k.startswith(prefixes))}

    def on_train_begin(self, net, **kwargs):
        if 0 in self._wanted and 0 not in self.states_:
            self.keep(net.module_, 0)

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if epoch in self._wanted:
            self.keep(net.module_, epoch)
