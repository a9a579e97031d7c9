"""SpectralCNNRegressor: a multi-task CNN that behaves like any scikit-learn regressor."""

import os
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from .._targets import MissingTargetsMixin, check_targets
from ..transfer import _fine_tune as fine_tune
from ..transfer._resolve import as_source
from ..transfer._source import SourceModel
from ._inputs import SpectraInputMixin, read_wavelengths, training_summary
from ._modules import ARCHITECTURES, build_module, module_config
from ._net import _rng_devices
from ._predict import _OPTIMIZERS, NetworkMixin
from ._scaling import STANDARDIZE_OPTIONS, fit_x_scaler, nan_scaler, standardize_per_domain

__all__ = ["SpectralCNNRegressor"]

# Parameters replaced by `standardize`, kept for one release.
_DEPRECATED = {"standardize_X": True, "domain_standardize": False, "restandardize_targets": False}


class SpectralCNNRegressor(NetworkMixin, SpectraInputMixin, MissingTargetsMixin, RegressorMixin,
                           BaseEstimator):
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
    standardize : {"pooled", "per_domain", "none"}, default="pooled"
        Which mean and SD the network sees when trained from scratch
        (:mod:`sklearn_soilspec.neural._scaling`). ``"pooled"``: inputs and
        targets centred and scaled over all training rows. ``"per_domain"``:
        with domains given to ``fit`` as ``groups``, each domain is
        standardised on its own and mapped onto the pooled mean and SD, so
        the network learns relations within sites, instruments or labs rather
        than the offsets between them; with fewer than two domains it is
        ``"pooled"``. Such a model is meant as a source: its own ``predict``
        on a new domain can only use the pooled statistics. ``"none"``: inputs
        as given (targets are still standardised). With ``warm_start_from``
        the source decides: a source trained per domain is fine-tuned on the
        local data's own statistics (a property measured on fewer than 20
        local rows has its SD pooled with the source's), any other keeps the
        source's scaling, on which its filters and heads were learnt.
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
        Freezing without ``warm_start_from`` is an error (it would freeze
        random weights), and so is freezing every layer.
    unfreeze_after : int or None, default=None
        Epoch after which frozen layers are released (gradual unfreezing,
        skorch's ``Unfreezer``). Without ``freeze_layers`` it has no effect,
        and ``fit`` warns.
    lr_features : float or None, default=None
        Learning rate of the frozen layers once ``unfreeze_after`` releases
        them (discriminative fine-tuning, a skorch optimizer parameter
        group); ``lr`` when None. Without ``unfreeze_after`` it has no
        effect, and ``fit`` warns.
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
    standardize_X, domain_standardize, restandardize_targets : deprecated
        Replaced by ``standardize`` (``standardize_X=False`` is
        ``standardize="none"``, ``domain_standardize=True`` is
        ``standardize="per_domain"``); ``restandardize_targets`` (rescale the
        carried heads to the local targets' mean and SD) still works for a
        source that was not trained per domain. Setting them warns; they go
        in the next release.
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
        Input standardisation (None with ``standardize="none"``).
    standardize_ : {"pooled", "per_domain", "none"}
        The standardisation applied (``"pooled"`` for ``"per_domain"``
        without two domains); what a model warm-started from this one reads.
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
        Number of samples (training / validation), if ``groups`` was given
        to ``fit`` the samples per domain, and with validation rows
        ``"rmse"``: per property, the RMSE of :meth:`predict` on the
        training and on the validation rows after training, and how many
        rows each measured.

    See Also
    --------
    sklearn_soilspec.transfer.save_model : Write a shareable model file.
    sklearn_soilspec.transfer.SourceModel : What a warm start copies.
    sklearn_soilspec.ensemble.SelectorRegressor : Keep transfer only where it helps.

    Notes
    -----
    Targets are standardised per property, ignoring NaNs. A warm-started
    model keeps its source's target scaling for the properties it carries
    over (unless the source was trained per domain), so the copied heads see
    targets on the scale they were trained on. The mechanics of a warm start
    (compatibility check, weight copy, freezing, batch-norm policy, transfer
    report) are in :mod:`sklearn_soilspec.transfer`; ``fit`` calls them.

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


    # Domain labels are wanted by default (per-domain standardisation): with
    # metadata routing on, a Pipeline or the experiment runner passes them.
    __metadata_request__fit = {"groups": True}

    # Fitted values a model file stores and load_model restores.
    _FITTED_STATE = (
        "target_names_", "n_features_in_", "feature_names_in_", "input_shape_", "wavelengths_",
        "x_mean_", "x_scale_", "y_mean_", "y_scale_", "training_summary_", "transfer_report_",
        "_y_is_1d", "standardize_", "domain_standardized_", "training_fingerprints_",
    )

    _parameter_constraints = {
        "architecture": [StrOptions(set(ARCHITECTURES))],
        "image_shape": [tuple, list, None],
        "module_params": [dict, None],
        "target_names": ["array-like", None],
        "task_weights": ["array-like", dict, None],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        # Batch norm cannot normalise a batch of one spectrum.
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "predict_batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions(set(_OPTIMIZERS)), callable],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "lr_schedule": [StrOptions({"plateau"}), dict, None],
        "standardize": [StrOptions(set(STANDARDIZE_OPTIONS))],
        "warm_start_from": [str, os.PathLike, HasMethods(["predict"]), SourceModel, None],
        "freeze_layers": [str, list, tuple, Interval(Integral, 0, None, closed="left"),
                          "boolean", None],
        "unfreeze_after": [Interval(Integral, 1, None, closed="left"), None],
        "lr_features": [Interval(Real, 0, None, closed="neither"), None],
        "reset_heads": ["boolean"],
        "adapt_batchnorm": ["boolean", StrOptions({"recompute"})],
        "augment": [HasMethods(["perturb"]), dict, None],
        "random_state": ["random_state"],
        "device": [str],
        "precision": [StrOptions({"32", "bf16", "fp16"})],
        "accelerator": [HasMethods(["prepare", "autocast"]), None],
        "verbose": ["verbose"],
        "standardize_X": ["boolean", StrOptions({"deprecated"})],
        "domain_standardize": ["boolean", StrOptions({"deprecated"})],
        "restandardize_targets": ["boolean", StrOptions({"deprecated"})],
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
        standardize="pooled",
        warm_start_from=None,
        freeze_layers=None,
        unfreeze_after=None,
        lr_features=None,
        reset_heads=False,
        adapt_batchnorm=False,
        augment=None,
        random_state=None,
        device="cpu",
        precision="32",
        accelerator=None,
        verbose=0,
        standardize_X="deprecated",
        domain_standardize="deprecated",
        restandardize_targets="deprecated",
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
        self.standardize = standardize
        self.warm_start_from = warm_start_from
        self.freeze_layers = freeze_layers
        self.unfreeze_after = unfreeze_after
        self.lr_features = lr_features
        self.reset_heads = reset_heads
        self.adapt_batchnorm = adapt_batchnorm
        self.augment = augment
        self.random_state = random_state
        self.device = device
        self.precision = precision
        self.accelerator = accelerator
        self.verbose = verbose
        self.standardize_X = standardize_X
        self.domain_standardize = domain_standardize
        self.restandardize_targets = restandardize_targets

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
        tags.regressor_tags.poor_score = True  # a few epochs on the common checks' toy data
        return tags

    def _policy(self):
        """``standardize`` with the deprecated switches folded in (and warned about)."""
        policy = self.standardize
        for name, old_default in _DEPRECATED.items():
            value = getattr(self, name)
            if value == "deprecated":
                continue
            warnings.warn(
                f"{name} is deprecated and will be removed in the next release: use "
                + ("standardize='none'" if name == "standardize_X" else
                   "standardize='per_domain'" if name == "domain_standardize" else
                   "standardize='per_domain' on the source model, whose warm starts use the "
                   "local data's own scaling") + ".", FutureWarning, stacklevel=4)
        if self.standardize_X is False:
            policy = "none"
        if self.domain_standardize is True:
            policy = "per_domain"
        return policy

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, validation_data=None, groups=None, training_domains=None):
        """Train the network (from scratch, or from ``warm_start_from``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_freq, n_time)
            Spectra, or spectrograms for ``architecture="spectrogram2d"``.
            No NaN or inf.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Soil properties; NaN where a property was not measured (a
            property measured on no sample is an error).
        validation_data : tuple (X_val, y_val) or None, default=None
            Explicit validation set, replacing ``validation_fraction``; the
            columns of a DataFrame ``y_val`` are matched to the training
            targets by name.
        groups : array-like of shape (n_samples,) or None, default=None
            Domain (site, country, instrument) of each sample: summarised in
            ``training_summary_`` and model files, and the domains of
            ``standardize="per_domain"``. Requested by default through
            metadata routing.
        training_domains : array-like or None, default=None
            Deprecated name of ``groups``.

        Returns
        -------
        self : SpectralCNNRegressor
        """
        if training_domains is not None:
            warnings.warn("fit(training_domains=...) is deprecated: pass groups=... instead.",
                          FutureWarning, stacklevel=3)
            if groups is not None:
                raise ValueError("Give the domains as groups or as training_domains, not both.")
            groups = training_domains
        policy = self._policy()
        fine_tune.check_fine_tuning_options(self.freeze_layers, self.unfreeze_after,
                                            self.lr_features)
        X = self._validate_X(X, reset=True)
        Y, self.target_names_, self._y_is_1d = check_targets(
            y, X.shape[0], type(self).__name__, target_names=self.target_names)
        self.wavelengths_ = read_wavelengths(self.architecture,
                                             getattr(self, "feature_names_in_", None),
                                             X.shape[1])
        summary, X_given, Y_given = training_summary(groups, X.shape[0]), X, Y
        source = None if self.warm_start_from is None else as_source(self.warm_start_from)
        if source is not None:
            fine_tune.check_compatible(source, self.architecture, self.module_params,
                                       self.input_shape_, self.wavelengths_)
            warm = fine_tune.plan_warm_start(
                source, self.target_names_, X, Y, reset_heads=self.reset_heads,
                restandardize_targets=self.restandardize_targets is True)
            (self.x_mean_, self.x_scale_), (self.y_mean_, self.y_scale_) = (
                warm.x_scaler, warm.y_scaler)
            self.standardize_ = source.standardize
        else:
            warm = None
            module_config(self.architecture, self.module_params)  # a clear error first
            self.x_mean_, self.x_scale_ = fit_x_scaler(X, policy)
            self.y_mean_, self.y_scale_ = nan_scaler(Y)
            n_domains = len(summary.get("domains", {}))
            self.standardize_ = "pooled" if policy == "per_domain" and n_domains < 2 else policy
            if self.standardize_ == "per_domain":
                X, Y = standardize_per_domain(X, Y, groups, self.x_mean_, self.x_scale_,
                                              self.y_mean_, self.y_scale_)
        self.domain_standardized_ = self.standardize_ == "per_domain"
        X_t = self._to_tensor(X)
        Y_t = torch.as_tensor(((Y - self.y_mean_) / self.y_scale_).astype(np.float32))
        train, valid = self._split(X_t, Y_t, validation_data)

        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        with torch.random.fork_rng(devices=_rng_devices(self.device)):
            torch.manual_seed(seed)
            module = self._build_module()
            callbacks, param_groups = self._fine_tuning(module, source, warm)
            if self.augment is not None:
                callbacks.append(("augment", self._augment_callback(seed)))
            self.net_ = self._make_net(module, valid, len(train), callbacks, param_groups)
            self.net_.initialize()
            if warm and self.adapt_batchnorm == "recompute":
                fine_tune.recompute_norm_statistics(self.net_.module_, train.X[train.rows],
                                                    warm.carried)
            self.transfer_report_ = None
            if warm:
                before = self._evaluate(valid if valid is not None else train)
            if self.max_epochs > 0:
                self.net_.partial_fit(train)
        self.history_ = self.net_.history
        if not all(torch.isfinite(p).all() for p in self.net_.module_.parameters()):
            raise ValueError(
                f"Training diverged: the network's weights became NaN or inf (lr={self.lr}). "
                "Lower lr, or check task_weights and the targets' scale."
            )
        if warm:
            self.transfer_report_ = fine_tune.transfer_report(
                warm, before, self._evaluate(valid if valid is not None else train),
                evaluated_on="validation" if valid is not None else "training",
            )
        n_valid = 0 if valid is None else len(valid)
        summary.update(n_samples=len(train) + n_valid, n_train=len(train), n_valid=n_valid)
        if (errors := self._fit_errors(X_given, Y_given, train, valid,
                                         validation_data is not None)):
            summary["rmse"] = errors
        self.training_summary_ = summary
        return self

    def _build_module(self):
        try:
            return build_module(self.architecture, self.input_shape_, self.target_names_,
                                module_config(self.architecture, self.module_params))
        except (RuntimeError, ZeroDivisionError) as exc:
            raise ValueError(
                f"module_params={self.module_params} give a network that cannot be built for "
                f"input of shape {self.input_shape_} ({str(exc).splitlines()[0]}): every "
                "channel and unit count must be a positive int, and the kernel no wider than "
                "the spectrum."
            ) from None

    def _fine_tuning(self, module, source, warm):
        """Copy the source into ``module`` and set up freezing: callbacks, param groups."""
        if warm is not None:
            fine_tune.copy_weights(module, source, warm)
            if not self.adapt_batchnorm:
                # A few batches of one site would drag the running statistics far
                # from the source's (LimeSoDa: RMSE doubled within one epoch even
                # at lr=1e-5), so the copied layers keep them.
                for part in fine_tune.carried_parts(module, warm):
                    fine_tune.fix_norm_statistics(part)
        groups = fine_tune.layer_groups(module, self.freeze_layers, self.target_names_)
        if groups and warm is None:
            raise ValueError(
                f"freeze_layers={self.freeze_layers!r} without warm_start_from would freeze "
                "randomly initialised layers. Set warm_start_from to the source model (a "
                "model file or a fitted model), or freeze_layers=None. (A model loaded from a "
                "file keeps its freeze_layers setting but not its source.)"
            )
        release = warm is None or bool(self.adapt_batchnorm)
        callbacks = fine_tune.freezing(module, groups, self.unfreeze_after, release)
        lr = self.lr_features if self.unfreeze_after is not None else None
        param_groups = [(f"{g}.*", {"lr": lr}) for g in groups] if lr is not None else []
        return callbacks, param_groups

    def export_source(self):
        """This fitted network as a :class:`~sklearn_soilspec.transfer.SourceModel`.

        Returns
        -------
        source : SourceModel
            Weights (copied to CPU), scalers, targets and input grid; what
            ``warm_start_from`` and :func:`~sklearn_soilspec.transfer.save_model`
            read.
        """
        if not hasattr(self, "net_"):
            raise NotFittedError(
                "warm_start_from holds an unfitted SpectralCNNRegressor: fit the source model "
                "first (or pass the path of a saved model)."
            )
        return SourceModel(
            architecture=self.architecture,
            module_config=module_config(self.architecture, self.module_params),
            state_dict={k: v.detach().cpu().clone()
                        for k, v in self.net_.module_.state_dict().items()},
            input_shape=tuple(self.input_shape_),
            target_names=list(self.target_names_),
            y_mean=np.array(self.y_mean_, dtype=np.float64),
            y_scale=np.array(self.y_scale_, dtype=np.float64),
            x_mean=None if self.x_mean_ is None else np.array(self.x_mean_),
            x_scale=None if self.x_scale_ is None else np.array(self.x_scale_),
            standardize=getattr(self, "standardize_", "pooled"),
            wavelengths=self.wavelengths_,
            training_summary=dict(self.training_summary_),
        )

    @classmethod
    def _from_saved(cls, params, fitted, source, history, device):
        """A fitted estimator from a model file's parameters, fitted values and source."""
        params = dict(params)
        # Files written before `standardize` existed name the old switches.
        if params.pop("standardize_X", "deprecated") is False:
            params["standardize"] = "none"
        if params.pop("domain_standardize", "deprecated") is True:
            params["standardize"] = "per_domain"
        if params.get("restandardize_targets") is False:
            params.pop("restandardize_targets")
        est = cls(**params)
        est.set_params(device=device, warm_start_from=None)
        for k, v in fitted.items():
            setattr(est, k, v)
        est.input_shape_ = tuple(est.input_shape_)
        est.target_names_ = list(est.target_names_)
        if not hasattr(est, "standardize_"):
            est.standardize_ = source.standardize
        est.net_ = est._make_net(source.build_module(), None, 0, [], [])
        est.net_.initialize()
        from skorch.history import History

        est.net_.history = History(history)
        est.history_ = est.net_.history
        return est

    def _augment_callback(self, seed):
        from ._augment import AugmentBatches, SpectralAugmenter

        if self.architecture != "conv1d":
            raise ValueError("augment perturbs 1-D spectra: use it with architecture='conv1d'.")
        aug = SpectralAugmenter(**self.augment) if isinstance(self.augment, dict) else self.augment
        aug.check()
        return AugmentBatches(aug, self.x_mean_, self.x_scale_, seed)

