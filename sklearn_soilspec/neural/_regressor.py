"""SpectralCNNRegressor: a multi-task CNN that behaves like any scikit-learn regressor."""

import inspect
import os
import re
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context, clone
from sklearn.metrics import r2_score
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from skorch import NeuralNetRegressor
from skorch.callbacks import EarlyStopping, LRScheduler, ProgressBar
from skorch.helper import predefined_split
from skorch.hf import AccelerateMixin
from skorch.dataset import unpack_data
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
)

from ..preprocessing._axis import check_wavelength_grid, resolve_wavelengths
from ._callbacks import TargetRMSE, rmse_per_target
from ._data import TensorBatchLoader, TensorRows
from ._loss import MaskedMultiTaskMSELoss
from ._modules import SpectralConv1d, SpectrogramConv2d, check_image_shape

__all__ = ["SpectralCNNRegressor"]

_ARCHITECTURES = {"conv1d": SpectralConv1d, "spectrogram2d": SpectrogramConv2d}
_OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
_PLATEAU_DEFAULTS = {"factor": 0.5, "patience": 5}


class _SoilNet(NeuralNetRegressor):
    """skorch's regressor, optimising only parameters that are not frozen.

    ``precision="bf16"`` or ``"fp16"`` runs forward passes under
    ``torch.autocast`` on the net's device (CPU included); fp16 also scales
    the loss with a ``GradScaler`` so small gradients do not underflow.
    """

    def __init__(self, *args, precision="32", **kwargs):
        super().__init__(*args, **kwargs)
        self.precision = precision

    def get_all_learnable_params(self):
        # Frozen layers stay out of the optimizer, so weight decay and Adam's
        # moments can never move them; unfreezing adds them as a new group.
        for name, param in super().get_all_learnable_params():
            if param.requires_grad:
                yield name, param

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


class SpectralCNNRegressor(RegressorMixin, BaseEstimator):
    """Multi-task convolutional network for soil properties from spectra.

    One network predicts several soil properties at once: convolution blocks
    (``features``) and a dense trunk (``shared``) learn from every property,
    and each property has its own small head (``heads.<name>``). Missing
    properties (NaN in ``Y``) are masked out of the loss, so a sample with
    only some properties measured still trains those. The network is trained
    with skorch (early stopping on a validation split restoring the best
    weights, plateau learning-rate schedule), but the estimator is an ordinary
    scikit-learn regressor: it clones, pickles, grid-searches and sits at the
    end of a :class:`~sklearn.pipeline.Pipeline`.

    Parameters
    ----------
    architecture : {"conv1d", "spectrogram2d"}, default="conv1d"
        ``"conv1d"`` convolves along the spectrum; ``"spectrogram2d"`` is the
        2-D network of Padarian et al. (2019) on spectrograms (the output of
        :class:`~sklearn_soilspec.preprocessing.Spectrogram`).
    image_shape : tuple of int or None, default=None
        ``(n_freq, n_time)`` of flat spectrogram input. Not needed when the
        input is 3-D ``(n_samples, n_freq, n_time)``
        (``Spectrogram(flatten=False)``).
    module_params : dict or None, default=None
        Network sizes passed to the torch module
        (:class:`~sklearn_soilspec.neural.SpectralConv1d` or
        :class:`~sklearn_soilspec.neural.SpectrogramConv2d`), e.g.
        ``{"channels": (8, 16), "shared_units": (32,)}``.
    target_names : list of str or None, default=None
        Names of the columns of an array ``Y``; a DataFrame's column names
        are used otherwise, and ``target_0``, ``target_1``, ... as a last
        resort. Heads are matched by name when warm starting.
    task_weights : dict, array-like or None, default=None
        Relative weight of each property in the loss (dict by name or one
        value per column); equal weights when None.
    max_epochs : int, default=200
        Maximum number of passes over the training data.
    batch_size : int, default=32
        Spectra per gradient step.
    predict_batch_size : int or None, default=None
        Spectra per forward pass when predicting and validating; results do
        not depend on it. None: on CPU, as many as keep the widest activation
        of a batch within about 4 MiB (16 to 1024 spectra), because batches
        that spill out of the processor's cache predict up to 1.6 times
        slower (``benchmarks/bench_scale.py``); on other devices
        ``batch_size``.
    lr : float, default=1e-3
        Learning rate.
    optimizer : {"adam", "adamw", "sgd"} or torch optimizer class, default="adam"
    weight_decay : float, default=0.0
        L2 penalty (decoupled for ``"adamw"``).
    validation_fraction : float or None, default=0.1
        Share of the training samples held out (shuffled with
        ``random_state``) for early stopping and the learning-rate schedule.
        None trains on everything and monitors the training loss. An explicit
        ``validation_data=(X_val, Y_val)`` given to ``fit`` replaces it.
    patience : int or None, default=20
        Epochs without improvement of the monitored loss before stopping; the
        weights of the best epoch are restored. None trains ``max_epochs``.
    lr_schedule : "plateau", dict or None, default="plateau"
        ``ReduceLROnPlateau`` on the monitored loss (halving after 5 flat
        epochs); a dict gives its arguments; None keeps ``lr`` constant.
    standardize_X : bool, default=True
        Centre and scale every input column with statistics learnt in ``fit``.
        A warm-started model uses its source's statistics instead, because its
        filters were learnt on inputs scaled that way.
    warm_start_from : str, path, estimator or None, default=None
        Start from a trained model: a ``.soilspec`` file written by
        :func:`~sklearn_soilspec.transfer.save_model`, a fitted
        ``SpectralCNNRegressor``, a fitted Pipeline ending in one, or a
        :class:`~sklearn.frozen.FrozenEstimator` of either. The source is
        read, never modified; it is kept by reference through ``clone``, so
        every clone made by ``GridSearchCV`` or ``cross_val_score`` starts
        from it. See :mod:`sklearn_soilspec.transfer`.
    freeze_layers : str, list of str, int or None, default=None
        Layer groups that are not trained: ``"features"``, ``"shared"``,
        ``"heads"``, ``"heads.<target>"``, a list of these, or an int k for
        the first k convolution blocks. Frozen batch-norm layers keep their
        running statistics.
    unfreeze_after : int or None, default=None
        Epoch after which frozen layers are released (gradual unfreezing).
        Without ``freeze_layers`` it has no effect, and ``fit`` warns.
    lr_features : float or None, default=None
        Learning rate of the released layers after ``unfreeze_after``
        (discriminative fine-tuning); ``lr`` when None. Without
        ``unfreeze_after`` it has no effect, and ``fit`` warns.
    reset_heads : bool, default=False
        Re-initialise every head when warm starting, keeping only the
        convolutions and trunk of the source.
    adapt_batchnorm : bool, default=False
        When warm starting, let the batch-norm layers copied from the source
        re-estimate their running statistics on the local data. By default
        they keep the source's: a small local set moves them far enough to
        undo the transfer (new heads always learn theirs). ``"recompute"``
        (AdaBN) re-estimates them once on the local training spectra before
        fine-tuning and then keeps them fixed.
    domain_standardize : bool, default=False
        With domains given to ``fit`` (``groups`` or ``training_domains``),
        centre and scale inputs and targets within each domain, so the
        network learns within-domain relations rather than offsets between
        sites, instruments or laboratories. A model warm-started from such a
        source standardises with the local data's own statistics. Without
        domains it is the ordinary pooled standardisation. Such a model is
        meant as a source: its own ``predict`` on a new domain can only use
        the pooled statistics.
    restandardize_targets : bool, default=False
        When warm starting, rescale the last layer of every carried head to
        the local targets' mean and SD, so that predictions are unchanged
        before fine-tuning but the loss works on the local spread.
    augment : SpectralAugmenter, dict or None, default=None
        Random spectral perturbations of the training batches
        (:class:`~sklearn_soilspec.neural.SpectralAugmenter`, or a dict of its
        parameters), seeded by ``random_state``; 1-D spectra only.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, the validation split, shuffling and
        dropout; an int gives identical predictions on CPU from run to run.
    device : str, default="cpu"
        Torch device, e.g. ``"cuda"``. Training, fine-tuning and prediction
        run there; predictions always come back as numpy arrays.
    precision : {"32", "bf16", "fp16"}, default="32"
        Arithmetic of the forward pass. ``"bf16"`` and ``"fp16"`` use
        ``torch.autocast`` (mixed precision: weights, loss and predictions
        stay float32); ``"fp16"`` adds gradient scaling. bf16 works on CPU and
        recent GPUs, fp16 is meant for GPUs.
    accelerator : accelerate.Accelerator or None, default=None
        Train through skorch's ``AccelerateMixin`` with this Hugging Face
        ``Accelerator``, which places the model and shards the batches: run
        the script with ``accelerate launch`` for several GPUs or machines.
        Mixed precision is then the accelerator's ``mixed_precision``, and
        ``device`` and ``precision`` must keep their defaults. Kept by
        reference through ``clone`` (there is one accelerator per process).
    verbose : int, default=0
        1 prints skorch's epoch table and a progress bar.

    Attributes
    ----------
    net_ : skorch.NeuralNetRegressor
        The trained network wrapper; ``net_.module_`` is the torch module.
    target_names_ : list of str
        One name per predicted property.
    n_features_in_ : int
        Number of input columns (``n_freq * n_time`` for spectrograms).
    feature_names_in_ : ndarray of str
        Column names of a DataFrame ``X``.
    input_shape_ : tuple of int
        ``(n_features,)`` or ``(n_freq, n_time)``.
    wavelengths_ : ndarray or None
        Spectral axis read from the column names, if any.
    x_mean_, x_scale_ : ndarray or None
        Input standardisation (None when ``standardize_X=False``).
    y_mean_, y_scale_ : ndarray of shape (n_targets,)
        Target standardisation (NaN-aware), inverted in ``predict``.
    history_ : skorch History
        Per-epoch ``train_loss``, ``valid_loss`` and ``valid_rmse_<target>``
        (original units).
    transfer_report_ : dict or None
        For a warm start: validation loss and per-property RMSE of the source
        model before fine-tuning and of the result after, so negative transfer
        is visible. None otherwise.
    training_summary_ : dict
        Number of samples (training / validation) and, if ``training_domains``
        was given to ``fit``, the samples per domain.

    See Also
    --------
    sklearn_soilspec.transfer.save_model : Write a shareable model file.
    sklearn_soilspec.transfer.TransferSelector : Guard against negative transfer.

    Notes
    -----
    Targets are standardised per property, ignoring NaNs. A warm-started
    model keeps its source's target scaling for the properties it carries
    over, so the copied heads see targets on the scale they were trained on;
    re-standardising to the local mean and SD would shift every carried head's
    output and is not done.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_soilspec.neural import SpectralCNNRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 32))
    >>> Y = np.c_[X[:, :8].sum(1), X[:, 8:16].sum(1)]
    >>> Y[::5, 1] = np.nan                     # a property not measured everywhere
    >>> model = SpectralCNNRegressor(module_params={"channels": (4,), "shared_units": (8,),
    ...                                             "head_units": 8},
    ...                              max_epochs=3, random_state=0).fit(X, Y)
    >>> model.predict(X[:2]).shape
    (2, 2)
    >>> model.target_names_
    ['target_0', 'target_1']
    """

    # The masked multi-task loss ignores NaN targets (read by the experiment
    # runner to skip its per-target wrapper).
    _nan_targets = "native"

    _parameter_constraints = {
        "architecture": [StrOptions(set(_ARCHITECTURES))],
        "image_shape": [tuple, list, None],
        "module_params": [dict, None],
        "target_names": ["array-like", None],
        "task_weights": ["array-like", dict, None],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "predict_batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions(set(_OPTIMIZERS)), callable],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "lr_schedule": [StrOptions({"plateau"}), dict, None],
        "standardize_X": ["boolean"],
        "warm_start_from": [str, os.PathLike, HasMethods(["predict"]), None],
        "freeze_layers": [str, list, tuple, Interval(Integral, 0, None, closed="left"), None],
        "unfreeze_after": [Interval(Integral, 1, None, closed="left"), None],
        "lr_features": [Interval(Real, 0, None, closed="neither"), None],
        "reset_heads": ["boolean"],
        "adapt_batchnorm": ["boolean", StrOptions({"recompute"})],
        "domain_standardize": ["boolean"],
        "restandardize_targets": ["boolean"],
        "augment": [HasMethods(["perturb"]), dict, None],
        "random_state": ["random_state"],
        "device": [str],
        "precision": [StrOptions({"32", "bf16", "fp16"})],
        "accelerator": [HasMethods(["prepare", "autocast"]), None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        architecture="conv1d",
        image_shape=None,
        module_params=None,
        target_names=None,
        task_weights=None,
        max_epochs=200,
        batch_size=32,
        predict_batch_size=None,
        lr=1e-3,
        optimizer="adam",
        weight_decay=0.0,
        validation_fraction=0.1,
        patience=20,
        lr_schedule="plateau",
        standardize_X=True,
        warm_start_from=None,
        freeze_layers=None,
        unfreeze_after=None,
        lr_features=None,
        reset_heads=False,
        adapt_batchnorm=False,
        domain_standardize=False,
        restandardize_targets=False,
        augment=None,
        random_state=None,
        device="cpu",
        precision="32",
        accelerator=None,
        verbose=0,
    ):
        self.architecture = architecture
        self.image_shape = image_shape
        self.module_params = module_params
        self.target_names = target_names
        self.task_weights = task_weights
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.predict_batch_size = predict_batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.lr_schedule = lr_schedule
        self.standardize_X = standardize_X
        self.warm_start_from = warm_start_from
        self.freeze_layers = freeze_layers
        self.unfreeze_after = unfreeze_after
        self.lr_features = lr_features
        self.reset_heads = reset_heads
        self.adapt_batchnorm = adapt_batchnorm
        self.domain_standardize = domain_standardize
        self.restandardize_targets = restandardize_targets
        self.augment = augment
        self.random_state = random_state
        self.device = device
        self.precision = precision
        self.accelerator = accelerator
        self.verbose = verbose

    # -- scikit-learn protocol -------------------------------------------------

    def __sklearn_clone__(self):
        # sklearn's clone would replace a fitted source model by an unfitted
        # copy, and the clone would silently train from random weights. The
        # source is only read (its weights are copied in fit), so sharing it
        # by reference between clones is safe.
        params = self.get_params(deep=False)
        # The accelerator holds the process's distributed state: one per process.
        shared = {k: params.pop(k) for k in ("warm_start_from", "accelerator")}
        params = {k: clone(v, safe=False) for k, v in params.items()}
        new = type(self)(**shared, **params)
        if hasattr(self, "_metadata_request"):
            new._metadata_request = clone(self._metadata_request, safe=False)
        return new

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        # A network trained for a handful of epochs on the tiny data sets of
        # the common checks does not reach their R2 threshold.
        tags.regressor_tags.poor_score = True
        return tags

    # -- fitting -----------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, validation_data=None, training_domains=None, groups=None):
        """Train the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_freq, n_time)
            Spectra, or spectrograms for ``architecture="spectrogram2d"``.
            No NaN or inf.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Soil properties; NaN where a property was not measured (a
            property measured on no sample is an error).
        validation_data : tuple (X_val, y_val) or None, default=None
            Explicit validation set, replacing ``validation_fraction``.
        training_domains : array-like of shape (n_samples,) or None, default=None
            Domain (site, country) of each sample; only summarised in
            ``training_summary_`` and model files, so a user of the model
            knows what it was trained on, and the domains of
            ``domain_standardize``.
        groups : array-like of shape (n_samples,) or None, default=None
            Another name for ``training_domains`` (the name experiment runners
            and splitters use); give one of the two.

        Returns
        -------
        self : SpectralCNNRegressor
        """
        from .. import transfer

        transfer.check_fine_tuning_options(self)
        X = self._validate_X(X, reset=True)
        Y, self.target_names_, self._y_is_1d = self._validate_Y(y, X.shape[0])
        self.wavelengths_ = self._read_wavelengths()
        if groups is not None and training_domains is not None:
            raise ValueError("Give the domains as groups or as training_domains, not both.")
        training_domains = groups if groups is not None else training_domains
        warm = transfer.WarmStart.from_estimator(self, X, Y)
        self.x_mean_, self.x_scale_ = warm.x_scaler if warm else self._fit_x_scaler(X)
        self.y_mean_, self.y_scale_ = warm.y_scaler if warm else _nan_scaler(Y)

        summary = _training_summary(training_domains, X.shape[0])
        self.domain_standardized_ = bool(self.domain_standardize) and (
            training_domains is not None or (warm is not None and warm.domain_standardized)
        )
        if self.domain_standardize and training_domains is not None and warm is None:
            X, Y = _standardize_per_domain(X, Y, training_domains, self.x_mean_,
                                           self.x_scale_, self.y_mean_, self.y_scale_)
        X_t = self._to_tensor(X)
        Y_t = torch.as_tensor(((Y - self.y_mean_) / self.y_scale_).astype(np.float32))
        train, valid = self._split(X_t, Y_t, validation_data)

        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        with torch.random.fork_rng(devices=_rng_devices(self.device)):
            torch.manual_seed(seed)
            module = self._make_module()
            extra_callbacks = transfer.prepare_module(self, module, warm)
            if self.augment is not None:
                extra_callbacks.append(("augment", self._augment_callback(seed)))
            self.net_ = self._make_net(module, valid, len(train), extra_callbacks)
            self.net_.initialize()
            if warm and self.adapt_batchnorm == "recompute":
                transfer.recompute_norm_statistics(self.net_.module_, train, warm.carried)
            self.transfer_report_ = None
            if warm:
                before = self._evaluate(valid if valid is not None else train)
            if self.max_epochs > 0:
                self.net_.partial_fit(train)
        self.history_ = self.net_.history
        if warm:
            self.transfer_report_ = transfer.transfer_report(
                warm, before, self._evaluate(valid if valid is not None else train),
                evaluated_on="validation" if valid is not None else "training",
            )
        n_valid = 0 if valid is None else len(valid)
        summary.update(n_samples=len(train) + n_valid, n_train=len(train), n_valid=n_valid)
        self.training_summary_ = summary
        return self

    def _augment_callback(self, seed):
        from ._augment import AugmentBatches, SpectralAugmenter

        if self.architecture != "conv1d":
            raise ValueError("augment perturbs 1-D spectra: use it with architecture='conv1d'.")
        aug = SpectralAugmenter(**self.augment) if isinstance(self.augment, dict) else self.augment
        aug.check()
        return AugmentBatches(aug, self.x_mean_, self.x_scale_, seed)

    def _validate_X(self, X, reset):
        shape = np.shape(X) if hasattr(X, "shape") or isinstance(X, (list, tuple)) else None
        if shape is not None and len(shape) == 3:
            if self.architecture != "spectrogram2d":
                raise ValueError(
                    f"Got 3-D input of shape {shape}: spectrograms need "
                    "architecture='spectrogram2d'; 'conv1d' takes 2-D spectra."
                )
            image = tuple(int(s) for s in shape[1:])
            if not reset and image != self.input_shape_:
                raise ValueError(
                    f"X holds spectrograms of {image[0]} x {image[1]} (n_freq x n_time), but "
                    f"this model was trained on {self.input_shape_[0]} x "
                    f"{self.input_shape_[1]}. Use the same Spectrogram settings and "
                    "wavelength grid as in training."
                )
            X = np.asarray(X).reshape(shape[0], -1)
        else:
            image = None
        X = validate_data(
            self, X, reset=reset, dtype=[np.float64, np.float32], ensure_min_samples=1
        )
        if reset:
            self.input_shape_ = self._input_shape(image, X.shape[1])
        return X

    def _read_wavelengths(self):
        # Only spectra have a wavelength axis; spectrogram columns are
        # f<i>_t<j>, whose numbers are not wavelengths.
        names = getattr(self, "feature_names_in_", None)
        if self.architecture != "conv1d" or names is None:
            return None
        try:
            wl = resolve_wavelengths(feature_names=names, n_features=self.n_features_in_)
            check_wavelength_grid(wl)
        except ValueError:
            return None
        return wl

    def _input_shape(self, image, n_features):
        if self.architecture == "conv1d":
            return (n_features,)
        if image is None and self.image_shape is None:
            image = _image_shape_from_names(getattr(self, "feature_names_in_", None))
        if image is None:
            if self.image_shape is None:
                raise ValueError(
                    "architecture='spectrogram2d' needs the spectrogram's shape: pass 3-D "
                    "input (Spectrogram(flatten=False)) or set image_shape=(n_freq, n_time) "
                    "for flat input."
                )
            image = check_image_shape(self.image_shape)
        if image[0] * image[1] != n_features:
            raise ValueError(
                f"image_shape={image} gives {image[0] * image[1]} values per spectrogram, "
                f"but X has {n_features} columns."
            )
        return check_image_shape(image)

    def _validate_Y(self, y, n_samples):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        names = list(y.columns) if hasattr(y, "columns") else None
        if names is None and hasattr(y, "name") and getattr(y, "ndim", 2) == 1:
            names = [y.name] if y.name is not None else None
        Y = check_array(
            y, ensure_2d=False, dtype=np.float64, ensure_all_finite="allow-nan", input_name="y"
        )
        is_1d = Y.ndim == 1
        Y = Y.reshape(-1, 1) if is_1d else Y
        if Y.ndim != 2:
            raise ValueError(f"y must be 1-D or 2-D, got shape {Y.shape}.")
        if Y.shape[0] != n_samples:
            raise ValueError(
                f"X has {n_samples} samples but y has {Y.shape[0]}: one row per sample."
            )
        if np.isinf(Y).any():
            raise ValueError("y contains inf; missing properties must be NaN.")
        if self.target_names is not None:
            if names is not None and list(map(str, names)) != list(map(str, self.target_names)):
                raise ValueError(
                    f"target_names={list(self.target_names)} disagree with the columns of y "
                    f"{list(names)}."
                )
            names = list(self.target_names)
        names = (
            [str(n) for n in names]
            if names is not None
            else [f"target_{j}" for j in range(Y.shape[1])]
        )
        if len(names) != Y.shape[1] or len(set(names)) != len(names):
            raise ValueError(
                f"Need {Y.shape[1]} distinct target names, got {names}."
            )
        empty = [n for n, col in zip(names, Y.T) if np.isnan(col).all()]
        if empty:
            raise ValueError(
                f"Target(s) {empty} have no measured value (all NaN): drop them from y."
            )
        return Y, names, is_1d

    def _fit_x_scaler(self, X):
        if not self.standardize_X:
            return None, None
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        return mean, np.where(scale > 0, scale, 1.0)

    def _to_tensor(self, X):
        X = np.asarray(X, dtype=np.float32)
        if self.x_mean_ is not None:
            # In float32: the network computes in float32 anyway, and a float64
            # temporary of a large library costs more than the forward pass.
            X = X - np.asarray(self.x_mean_, dtype=np.float32)
            X /= np.asarray(self.x_scale_, dtype=np.float32)
        return torch.as_tensor(np.ascontiguousarray(X))

    def _split(self, X_t, Y_t, validation_data):
        """Training rows and the validation set (None without one)."""
        n = X_t.shape[0]
        if n < 2:
            # Batch norm cannot normalise a single spectrum.
            raise ValueError(f"Training needs at least 2 samples, got {n} sample(s).")
        if validation_data is not None:
            try:
                X_val, y_val = validation_data
            except (TypeError, ValueError):
                raise ValueError("validation_data must be a pair (X_val, y_val).") from None
            X_val = self._validate_X(X_val, reset=False)
            Y_val, names, _ = self._validate_Y(y_val, X_val.shape[0])
            if len(names) != len(self.target_names_):
                raise ValueError(
                    f"validation_data has {len(names)} target(s), the training data "
                    f"{len(self.target_names_)}."
                )
            Y_val = ((Y_val - self.y_mean_) / self.y_scale_).astype(np.float32)
            valid = TensorRows(self._to_tensor(X_val), torch.as_tensor(Y_val))
            return TensorRows(X_t, Y_t), valid
        if self.validation_fraction is None:
            return TensorRows(X_t, Y_t), None
        n_valid = int(np.ceil(self.validation_fraction * n))
        if n - n_valid < 2:
            raise ValueError(
                f"Too few samples for a validation split: got {n} sample(s); "
                f"validation_fraction={self.validation_fraction} leaves {n - n_valid} for "
                "training (at least 2 needed). Provide more samples, validation_data, or "
                "validation_fraction=None."
            )
        order = check_random_state(self.random_state).permutation(n)
        # Sorted rows keep the data's order; shuffling per epoch is the loader's job.
        train = TensorRows(X_t, Y_t, np.sort(order[n_valid:]))
        return train, TensorRows(X_t, Y_t, np.sort(order[:n_valid]))

    def _make_module(self):
        cls = _ARCHITECTURES[self.architecture]
        params = dict(self.module_params or {})
        accepted = set(inspect.signature(cls).parameters) - {"n_features", "image_shape", "target_names"}
        unknown = sorted(set(params) - accepted)
        if unknown:
            raise ValueError(
                f"module_params has unknown key(s) {unknown} for architecture="
                f"{self.architecture!r}; accepted: {sorted(accepted)}."
            )
        shape_arg = (
            {"n_features": self.input_shape_[0]}
            if self.architecture == "conv1d"
            else {"image_shape": self.input_shape_}
        )
        return cls(target_names=self.target_names_, **shape_arg, **params)

    def _task_weights(self):
        if self.task_weights is None:
            return None
        if isinstance(self.task_weights, dict):
            unknown = sorted(set(self.task_weights) - set(self.target_names_))
            if unknown:
                raise ValueError(
                    f"task_weights names unknown target(s) {unknown}; targets are "
                    f"{self.target_names_}."
                )
            w = [float(self.task_weights.get(n, 1.0)) for n in self.target_names_]
        else:
            w = np.asarray(self.task_weights, dtype=np.float64).ravel().tolist()
            if len(w) != len(self.target_names_):
                raise ValueError(
                    f"task_weights has {len(w)} values for {len(self.target_names_)} targets."
                )
        if min(w) < 0 or sum(w) <= 0:
            raise ValueError("task_weights must be non-negative with a positive sum.")
        return w

    def _predict_rows(self):
        if self.predict_batch_size is not None:
            return self.predict_batch_size
        return getattr(self, "_auto_predict_rows", None) or self.batch_size

    def _make_net(self, module, valid, n_train, extra_callbacks):
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
            criterion__task_weights=self._task_weights(),
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

    # -- prediction --------------------------------------------------------------

    def _forward(self, X_t):
        # predict_batch_size is read now, so set_params after fit applies to
        # the next prediction as its docstring promises.
        self.net_.iterator_valid__batch_size = self._predict_rows()
        out = self.net_.forward(TensorRows(X_t), training=False)
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
        Y = self._forward(self._to_tensor(X)) * self.y_scale_ + self.y_mean_
        return Y[:, 0] if self._y_is_1d else Y

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

    def score(self, X, y, sample_weight=None):
        """Mean coefficient of determination R2 over the targets, ignoring NaNs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            True values; NaN entries are left out of their target's R2.
        sample_weight : array-like of shape (n_samples,) or None

        Returns
        -------
        score : float
        """
        return nan_r2_score(y, self.predict(X), sample_weight=sample_weight)

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
    >>> from sklearn_soilspec.neural._regressor import cache_sized_batch
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


def nan_r2_score(y_true, y_pred, sample_weight=None):
    """Mean R2 over columns, each over its non-NaN rows.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_targets)
    y_pred : array-like of the same shape
    sample_weight : array-like of shape (n_samples,) or None

    Returns
    -------
    score : float

    Examples
    --------
    >>> import numpy as np
    >>> nan_r2_score(np.array([[1.0, 1.0], [2.0, np.nan], [3.0, 3.0]]),
    ...              np.array([[1.0, 1.0], [2.0, 9.0], [3.0, 3.0]]))
    1.0
    """
    Y = np.asarray(y_true, dtype=np.float64)
    P = np.asarray(y_pred, dtype=np.float64)
    Y = Y.reshape(len(Y), -1)
    P = P.reshape(len(P), -1)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    scores = []
    for j in range(Y.shape[1]):
        ok = ~np.isnan(Y[:, j])
        if ok.sum() < 2:
            continue
        scores.append(
            r2_score(Y[ok, j], P[ok, j], sample_weight=None if w is None else w[ok])
        )
    return float(np.mean(scores)) if scores else float("nan")


_IMAGE_COLUMN = re.compile(r"f(\d+)_t(\d+)")


def _image_shape_from_names(names):
    """(n_freq, n_time) from Spectrogram's ``f<i>_t<j>`` column names, if that is what they are."""
    if names is None:
        return None
    cells = [_IMAGE_COLUMN.fullmatch(str(n)) for n in names]
    if not all(cells):
        return None
    shape = (max(int(c.group(1)) for c in cells) + 1, max(int(c.group(2)) for c in cells) + 1)
    expected = [f"f{i}_t{j}" for i in range(shape[0]) for j in range(shape[1])]
    return shape if list(map(str, names)) == expected else None


def _nan_scaler(Y):
    mean = np.nanmean(Y, axis=0)
    scale = np.nanstd(Y, axis=0)
    return mean, np.where(scale > 0, scale, 1.0)


def _standardize_per_domain(X, Y, domains, x_mean, x_scale, y_mean, y_scale):
    """Map each domain onto the pooled mean/SD: within-domain z-scores, pooled units.

    The network then sees no difference in level or spread between domains;
    what is left is the relation between spectra and properties inside a
    domain, which is what a new domain shares with the library.
    """
    domains = np.asarray(domains).ravel().astype(str)
    if domains.shape[0] != X.shape[0]:
        raise ValueError(f"groups has {domains.shape[0]} labels for {X.shape[0]} samples.")
    X, Y = X.astype(np.float64, copy=True), Y.copy()
    xm = 0.0 if x_mean is None else x_mean
    xs = 1.0 if x_scale is None else x_scale
    for d in np.unique(domains):
        rows = domains == d
        if rows.sum() < 2:
            continue  # one spectrum has no spread to remove
        dm, ds = X[rows].mean(axis=0), X[rows].std(axis=0)
        X[rows] = (X[rows] - dm) / np.where(ds > 0, ds, 1.0) * xs + xm
        block = Y[rows]
        counts = (~np.isnan(block)).sum(axis=0)
        ok = counts >= 2
        tm = np.nanmean(block[:, ok], axis=0)
        ts = np.nanstd(block[:, ok], axis=0)
        ts = np.where(ts > 0, ts, 1.0)
        block[:, ok] = (block[:, ok] - tm) / ts * y_scale[ok] + y_mean[ok]
        Y[rows] = block
    return X, Y


def _rng_devices(device):
    dev = torch.device(device)
    if dev.type == "cuda":
        return [dev.index if dev.index is not None else torch.cuda.current_device()]
    return []


def _training_summary(training_domains, n_samples):
    if training_domains is None:
        return {}
    groups = np.asarray(training_domains).ravel()
    if groups.shape[0] != n_samples:
        raise ValueError(
            f"training_domains has {groups.shape[0]} labels for {n_samples} samples."
        )
    labels, counts = np.unique(groups.astype(str), return_counts=True)
    return {"domains": dict(zip(labels.tolist(), counts.tolist()))}
