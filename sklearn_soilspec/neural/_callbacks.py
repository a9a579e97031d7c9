"""Per-property validation error in the units the soil scientist reads."""

import numpy as np
import torch
from skorch.callbacks import Callback

from .._targets import rmse_per_target

__all__ = ["TargetRMSE", "rmse_per_target"]


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
