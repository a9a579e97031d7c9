"""Masked multi-task mean squared error: a missing property trains nothing."""

import torch
from torch import nn

__all__ = ["MaskedMultiTaskMSELoss"]


class MaskedMultiTaskMSELoss(nn.Module):
    """Mean squared error over the observed entries of a multi-target batch.

    Soil libraries rarely measure every property on every sample. NaN targets
    are masked out: their squared error is replaced by an exact zero (not
    multiplied by zero, which would turn a NaN into NaN), so the gradient of a
    masked prediction is zero and the sample still trains its other properties.

    The loss is the mean squared error over the observed entries of each task,
    then the (weighted) mean over the tasks observed in the batch, so a sparsely
    measured property is not drowned out by a dense one.

    Parameters
    ----------
    task_weights : array-like of shape (n_targets,) or None, default=None
        Relative weight of each task; equal weights when None.

    Examples
    --------
    >>> import torch
    >>> loss = MaskedMultiTaskMSELoss()
    >>> y_true = torch.tensor([[1.0, float("nan")], [3.0, 2.0]])
    >>> y_pred = torch.tensor([[0.0, 5.0], [3.0, 0.0]])
    >>> float(loss(y_pred, y_true))  # task 1: (1 + 0) / 2, task 2: 4 / 1
    2.25
    """

    def __init__(self, task_weights=None):
        super().__init__()
        weights = None if task_weights is None else torch.as_tensor(task_weights, dtype=torch.float32)
        self.register_buffer("task_weights", weights)

    def forward(self, y_pred, y_true):
        if y_pred.dim() == 1:
            y_pred = y_pred.unsqueeze(1)
        if y_true.dim() == 1:
            y_true = y_true.unsqueeze(1)
        observed = ~torch.isnan(y_true)
        diff = torch.where(observed, y_pred - torch.nan_to_num(y_true), torch.zeros_like(y_pred))
        count = observed.sum(dim=0)
        per_task = (diff**2).sum(dim=0) / count.clamp(min=1)
        weights = (
            torch.ones_like(per_task)
            if self.task_weights is None
            else self.task_weights.to(per_task)
        )
        # Tasks with no observation in this batch drop out of the average.
        weights = weights * (count > 0)
        total = weights.sum()
        if total == 0:
            # No observed target in the batch: a zero that still has a graph.
            return (y_pred * 0.0).sum()
        return (per_task * weights).sum() / total


def check_task_weights(task_weights, target_names):
    """One finite, non-negative loss weight per property (dict by name or a sequence)."""
    import numpy as np

    if task_weights is None:
        return None
    if isinstance(task_weights, dict):
        unknown = sorted(set(task_weights) - set(target_names))
        if unknown:
            raise ValueError(
                f"task_weights names unknown target(s) {unknown}; targets are "
                f"{list(target_names)}."
            )
        w = [float(task_weights.get(n, 1.0)) for n in target_names]
    else:
        w = np.asarray(task_weights, dtype=np.float64).ravel().tolist()
        if len(w) != len(target_names):
            raise ValueError(
                f"task_weights has {len(w)} values for {len(target_names)} targets."
            )
    if not np.isfinite(w).all():
        raise ValueError(f"task_weights must be finite numbers, got {w}.")
    if min(w) < 0 or sum(w) <= 0:
        raise ValueError("task_weights must be non-negative with a positive sum.")
    return w
