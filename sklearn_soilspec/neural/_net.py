"""The skorch network the regressor trains, its data loaders and batch sizing."""

import numpy as np
import torch
from skorch import NeuralNetRegressor
from skorch.callbacks import EarlyStopping
from skorch.dataset import unpack_data
from skorch.hf import AccelerateMixin
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from ._data import TensorRows

__all__ = ["cache_sized_batch"]


class _SoilNet(NeuralNetRegressor):
    """skorch's regressor with mixed precision, letting Ctrl-C through.

    Frozen parameters (skorch's ``Freezer``) stay in the optimizer without a
    gradient, so neither Adam's moments nor weight decay move them, and
    ``Unfreezer`` can release them later.

    ``precision="bf16"`` or ``"fp16"`` runs forward passes under
    ``torch.autocast`` on the net's device (CPU included); fp16 also scales
    the loss with a ``GradScaler`` so small gradients do not underflow.
    """

    def __init__(self, *args, precision="32", **kwargs):
        super().__init__(*args, **kwargs)
        self.precision = precision

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        # skorch's EarlyStopping ends training by raising KeyboardInterrupt,
        # and skorch's partial_fit swallows every KeyboardInterrupt, Ctrl-C
        # included, returning a half-trained net as if training had finished.
        # Here only early stopping's is caught: Ctrl-C reaches the caller, so
        # nothing half-trained is saved or reported.
        if not self.initialized_:
            self.initialize()
        routing_method = fit_params.pop("_routing_method", "partial_fit")
        self.notify("on_train_begin", X=X, y=y)
        try:
            self.fit_loop(X, y, _routing_method=routing_method, **fit_params)
        except KeyboardInterrupt:
            if not self._stopped_early():
                raise
        self.notify("on_train_end", X=X, y=y)
        return self

    def _stopped_early(self):
        return any(isinstance(cb, EarlyStopping) and cb.patience is not None
                   and getattr(cb, "misses_", 0) >= cb.patience
                   for _, cb in getattr(self, "callbacks_", []))

    def infer(self, x, **fit_params):
        if self.precision == "32":
            return super().infer(x, **fit_params)
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        with torch.autocast(torch.device(self.device).type, dtype=dtype):
            out = super().infer(x, **fit_params)
        # Loss, metrics and predictions in float32: numpy has no bfloat16 and
        # a half-precision loss rounds away the differences early stopping sees.
        return out.float()

    def train_step_single(self, batch, **fit_params):
        if self.precision != "fp16":
            return super().train_step_single(batch, **fit_params)
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        self._grad_scaler().scale(loss).backward()
        return {"loss": loss, "y_pred": y_pred}

    def _step_optimizer(self, step_fn):
        if self.precision != "fp16":
            return super()._step_optimizer(step_fn)
        # GradScaler.step cannot take the training step as a closure.
        step_fn()
        scaler = self._grad_scaler()
        for name in self._optimizers:
            scaler.step(getattr(self, name + "_"))
        scaler.update()

    def _grad_scaler(self):
        if getattr(self, "grad_scaler_", None) is None:
            self.grad_scaler_ = torch.amp.GradScaler(torch.device(self.device).type)
        return self.grad_scaler_


class _AcceleratedSoilNet(AccelerateMixin, _SoilNet):
    """``_SoilNet`` trained through Hugging Face Accelerate (skorch's mixin)."""

    def _initialize_accelerator(self):
        # DistributedDataParallel refuses a module without parameters, and the
        # masked loss has none: only the network and optimizer are prepared.
        criteria, self._criteria = self._criteria, []
        try:
            return super()._initialize_accelerator()
        finally:
            self._criteria = criteria


def _silent(*args, **kwargs):
    # AccelerateMixin prints the epoch table through the accelerator whatever
    # the net's verbosity; this sink honours verbose=0.
    pass


class _WholeBatches(Dataset):
    """A :class:`TensorRows` whose batches are gathered by one index op."""

    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]

    def __getitems__(self, indices):
        return self.rows[indices]


def _as_batch(batch):
    return batch


def _accelerate_loader(dataset, batch_size=32, shuffle=False, drop_last=False):
    """A ``DataLoader`` over whole batches of a :class:`TensorRows`.

    Accelerate shards only ``DataLoader`` objects over processes; fetching a
    batch at once keeps the speed of ``TensorBatchLoader``, where torch's
    default would index and collate sample by sample.
    """
    if isinstance(dataset, TensorRows):
        dataset, collate = _WholeBatches(dataset), _as_batch
    else:
        collate = None
    order = RandomSampler(dataset) if shuffle else SequentialSampler(dataset)
    return DataLoader(dataset, batch_sampler=BatchSampler(order, batch_size, drop_last),
                      collate_fn=collate)


def cache_sized_batch(module, input_shape, budget_bytes=4 * 2**20, lo=16, hi=1024):
    """Rows per forward pass whose widest float32 activation fits ``budget_bytes``.

    One spectrum (zeros) is passed through ``module`` in eval mode and the
    largest output of any layer is measured, so the rule follows whatever
    architecture and sizes the module has.

    Parameters
    ----------
    module : torch.nn.Module
        Taking a batch of shape ``(n, *input_shape)``.
    input_shape : tuple of int
        Shape of one sample.
    budget_bytes : int, default=4 MiB
    lo, hi : int, default=16, 1024
        Bounds of the result.

    Returns
    -------
    rows : int

    Examples
    --------
    >>> from sklearn_soilspec.neural import SpectralConv1d
    >>> from sklearn_soilspec.neural._net import cache_sized_batch
    >>> cache_sized_batch(SpectralConv1d(1050, ["OC"]), (1050,))
    62
    """
    widest = [int(np.prod(input_shape))]

    def record(_, __, out):
        if isinstance(out, torch.Tensor):
            widest.append(out[0].numel())

    hooks = [m.register_forward_hook(record) for m in module.modules()
             if not list(m.children())]
    was_training = module.training
    try:
        module.eval()
        param = next(module.parameters(), None)
        device = param.device if param is not None else "cpu"
        with torch.no_grad():
            module(torch.zeros((1, *input_shape), device=device))
    finally:
        for h in hooks:
            h.remove()
        module.train(was_training)
    return int(np.clip(budget_bytes // (4 * max(widest)), lo, hi))


def _rng_devices(device):
    dev = torch.device(device)
    if dev.type == "cuda":
        return [dev.index if dev.index is not None else torch.cuda.current_device()]
    return []


