"""How the regressor builds its skorch net and predicts with it (a mixin of SpectralCNNRegressor)."""

from numbers import Integral

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import EarlyStopping, LRScheduler, ProgressBar
from skorch.helper import predefined_split

from .._targets import rmse_per_target
from ._callbacks import TargetRMSE
from ._data import TensorBatchLoader, TensorRows
from ._loss import MaskedMultiTaskMSELoss, check_task_weights
from ._net import _AcceleratedSoilNet, _accelerate_loader, _rng_devices, _silent, _SoilNet
from ._net import cache_sized_batch

__all__ = []

_OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
_PLATEAU_DEFAULTS = {"factor": 0.5, "patience": 5}


class NetworkMixin:
    """The skorch net of a fitted ``SpectralCNNRegressor`` and the predictions it makes.

    Kept apart from the estimator's parameters and ``fit`` so that each file
    holds one idea: here, turning settings into a net and a net into numbers
    in the properties' own units.
    """

    def _predict_rows(self):
        if self.predict_batch_size is not None:
            return self.predict_batch_size
        return getattr(self, "_auto_predict_rows", None) or self.batch_size

    def _make_net(self, module, valid, n_train, extra_callbacks, param_groups=()):
        # Measured once per network, before any user hook can see the probe.
        on_cpu = self.device == "cpu" and self.accelerator is None
        self._auto_predict_rows = cache_sized_batch(module, self.input_shape_) if on_cpu else None
        monitor = "valid_loss" if valid is not None else "train_loss"
        callbacks = []
        if valid is not None:
            callbacks.append(
                ("target_rmse", TargetRMSE(self.target_names_, self.y_mean_, self.y_scale_))
            )
        if self.lr_schedule is not None:
            kwargs = dict(_PLATEAU_DEFAULTS)
            if isinstance(self.lr_schedule, dict):
                kwargs.update(self.lr_schedule)
            callbacks.append(
                ("lr_schedule", LRScheduler("ReduceLROnPlateau", monitor=monitor, **kwargs))
            )
        if self.patience is not None:
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(monitor=monitor, patience=self.patience, load_best=True),
                )
            )
        if self.verbose:
            callbacks.append(("progress_bar", ProgressBar()))
        callbacks += list(extra_callbacks)
        optimizer = (
            _OPTIMIZERS[self.optimizer] if isinstance(self.optimizer, str) else self.optimizer
        )
        opt_kwargs = {"optimizer__weight_decay": self.weight_decay} if self.weight_decay else {}
        if param_groups:
            opt_kwargs["optimizer__param_groups"] = list(param_groups)
        net_class, loader, placement = _SoilNet, TensorBatchLoader, {"device": self.device}
        if self.accelerator is not None:
            if self.device != "cpu" or self.precision != "32":
                raise ValueError(
                    "With an accelerator, device placement and mixed precision are the "
                    "accelerator's: leave device='cpu' and precision='32', and use "
                    "Accelerator(mixed_precision='bf16') for mixed precision."
                )
            net_class, loader = _AcceleratedSoilNet, _accelerate_loader
            placement = {"device": None, "accelerator": self.accelerator}
            if not self.verbose:
                placement["callbacks__print_log__sink"] = _silent
        return net_class(
            module=module,
            criterion=MaskedMultiTaskMSELoss,
            criterion__task_weights=check_task_weights(self.task_weights, self.target_names_),
            optimizer=optimizer,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train=loader,
            iterator_valid__batch_size=self._predict_rows(),
            iterator_valid=loader,
            iterator_train__shuffle=True,
            # Batch norm cannot normalise a batch of one: drop the straggler.
            iterator_train__drop_last=(n_train % self.batch_size == 1),
            train_split=predefined_split(valid) if valid is not None else None,
            callbacks=callbacks,
            precision=self.precision,
            verbose=self.verbose,
            **placement,
            **opt_kwargs,
        )

    def _forward(self, X_t):
        # predict_batch_size is read now, so set_params after fit applies to
        # the next prediction as its docstring promises.
        rows = self._predict_rows()
        net = self.net_
        net.iterator_valid__batch_size = rows
        if isinstance(net, _AcceleratedSoilNet):
            # The accelerator's loader and wrapped module decide the batches.
            out = net.forward(TensorRows(X_t), training=False)
        else:
            # skorch's forward gathers every batch by index and re-enters eval
            # mode and a no-grad context per batch; slices of the contiguous
            # tensor are views, and inference mode skips autograd's version
            # counting: about 10 % of a LUCAS-size prediction. The batches are
            # the same rows in the same order through the same net.infer
            # (device placement, mixed precision), so the same numbers.
            net.check_is_fitted()
            net._set_training(False)
            with torch.inference_mode():
                out = torch.cat([net.infer(X_t[i:i + rows]).to("cpu")
                                 for i in range(0, X_t.shape[0], rows)])
        return out.reshape(X_t.shape[0], -1).numpy().astype(np.float64)

    def predict(self, X):
        """Predict soil properties in their original units.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_freq, n_time)

        Returns
        -------
        Y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
            1-D when the model was fitted on a 1-D ``y``.
        """
        check_is_fitted(self, "net_")
        X = self._validate_X(X, reset=False)
        self._check_target_scaling()
        Y = self._forward(self._to_tensor(X)) * self.y_scale_ + self.y_mean_
        if not np.isfinite(Y).all():
            raise ValueError(
                "The network predicted NaN or inf for finite spectra: its weights or fitted "
                "scaling were changed or damaged, or the spectra lie far outside the training "
                "range. Refit the model (or reload it from its model file).")
        return Y[:, 0] if self._y_is_1d else Y

    def _check_target_scaling(self):
        # Cheap, and it turns an edited or damaged y_mean_/y_scale_ into a
        # message instead of a numpy broadcast error or NaN predictions.
        n = len(self.target_names_)
        for name in ("y_mean_", "y_scale_"):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != (n,) or not np.isfinite(value).all():
                raise ValueError(
                    f"{name} must hold {n} finite values (one per target), got "
                    f"{value.tolist()}: the fitted model was changed or damaged. Refit it, "
                    "or reload it from its model file.")

    def predict_dropout(self, X, n_samples=30, random_state=None):
        """Monte-Carlo dropout: mean and SD of predictions with dropout left on.

        Batch-norm layers stay in inference mode; only dropout is sampled, so
        the SD reflects the network's uncertainty about its weights (Gal and
        Ghahramani, 2016), not the spread of the batch.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_freq, n_time)
        n_samples : int, default=30
            Forward passes averaged.
        random_state : int or None, default=None
            Seeds the dropout masks.

        Returns
        -------
        mean, std : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        check_is_fitted(self, "net_")
        if not (isinstance(n_samples, Integral) and n_samples >= 2):
            raise ValueError(f"n_samples must be an int >= 2, got {n_samples!r}.")
        X_t = self._to_tensor(self._validate_X(X, reset=False)).to(self.device)
        module = self.net_.module_
        module.eval()
        for m in module.modules():
            if isinstance(m, torch.nn.Dropout):
                m.train()
        seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
        try:
            with torch.random.fork_rng(devices=_rng_devices(self.device)), torch.no_grad():
                torch.manual_seed(seed)
                draws = np.stack([
                    module(X_t).reshape(X_t.shape[0], -1).float().cpu().numpy()
                    for _ in range(n_samples)
                ]).astype(np.float64)
        finally:
            module.eval()
        draws = draws * self.y_scale_ + self.y_mean_
        mean, std = draws.mean(axis=0), draws.std(axis=0, ddof=1)
        return (mean[:, 0], std[:, 0]) if self._y_is_1d else (mean, std)

    def _evaluate(self, dataset):
        """Masked loss and per-target RMSE (original units) of the current net."""
        X_t = dataset.X[dataset.rows]
        Y_scaled = dataset.Y[dataset.rows]
        pred = self.net_.forward(TensorRows(X_t), training=False).reshape(Y_scaled.shape)
        loss = float(self.net_.criterion_(pred, Y_scaled))
        Y_true = Y_scaled.numpy() * self.y_scale_ + self.y_mean_
        Y_pred = pred.numpy() * self.y_scale_ + self.y_mean_
        rmse = rmse_per_target(Y_true, Y_pred)
        return {"loss": loss, "rmse": dict(zip(self.target_names_, map(float, rmse)))}

    def _fit_errors(self, X, Y, train, valid, explicit):
        """Per-target RMSE and measured rows on the training and the validation rows, as trained.

        Written into ``training_summary_`` (and so model files): what the
        user of a shared model reads as its error on spectra it did not
        see, and against its training error, its generalisation gap
        (``benchmarks/seen_rows_rule.py`` compares that gap with the true
        one on local rows the network saw). Both are measured as
        :meth:`predict` would make them, from the spectra
        ``X`` and properties ``Y`` as given to ``fit``: a network standardised
        per domain trains on each domain's own scaling, which its
        predictions of new spectra do not know. ``explicit``: the validation
        rows are ``validation_data``, already scaled. None without them.
        """
        if valid is None or len(valid) == 0:
            return None
        train_rows = train.rows.numpy()
        parts = [("training", self._to_tensor(X[train_rows]), Y[train_rows])]
        if explicit:
            parts.append(("validation", valid.X[valid.rows],
                          valid.Y[valid.rows].numpy() * self.y_scale_ + self.y_mean_))
        else:
            rows = valid.rows.numpy()
            parts.append(("validation", self._to_tensor(X[rows]), Y[rows]))
        out = {}
        for part, X_t, Y_part in parts:
            P = self._forward(X_t) * self.y_scale_ + self.y_mean_
            count = (~np.isnan(Y_part)).sum(axis=0)
            rmse = rmse_per_target(Y_part, P)
            out[part] = {t: (float(r) if c > 0 and np.isfinite(r) else None)
                         for t, r, c in zip(self.target_names_, rmse, count)}
            out[f"n_{part}"] = dict(zip(self.target_names_, count.astype(int).tolist()))
        return out
