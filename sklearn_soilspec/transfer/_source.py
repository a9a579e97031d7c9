"""The source model: everything a warm start needs from a trained network, as a plain value.

A model file reads into a :class:`SourceModel`, a fitted
``SpectralCNNRegressor`` exports one (``export_source()``), and the
fine-tuning mechanics (:mod:`sklearn_soilspec.transfer._fine_tune`) work on
it. Nothing here imports the estimator: a warm start copies weights and
scalers, it does not need a second estimator or skorch net.
"""

from dataclasses import dataclass, field

import numpy as np

__all__ = ["SourceModel"]


@dataclass
class SourceModel:
    """A trained multi-task network and what its inputs and outputs mean.

    Parameters
    ----------
    architecture : {"conv1d", "spectrogram2d"}
    module_config : dict
        The network's constructor arguments, defaults filled in
        (:func:`sklearn_soilspec.neural._modules.module_config`).
    state_dict : dict of str -> torch.Tensor
        The network's weights and batch-norm statistics (CPU).
    input_shape : tuple of int
        ``(n_features,)`` or ``(n_freq, n_time)``.
    target_names : list of str
        One head per property.
    y_mean, y_scale : ndarray of shape (n_targets,)
        Target standardisation of the heads.
    x_mean, x_scale : ndarray or None
        Input standardisation (None when inputs were not scaled).
    standardize : {"pooled", "per_domain", "none"}, default="pooled"
        How the network was trained (see
        :mod:`sklearn_soilspec.neural._scaling`). ``"per_domain"`` means its
        filters and heads learnt relations within domains: a local domain
        is then scaled with its own statistics.
    wavelengths : ndarray or None, default=None
        Spectral axis of the network's own input, when its columns were
        named by wavelength.
    input_wavelengths : ndarray or None, default=None
        Spectral axis the source Pipeline takes (before its preprocessing
        steps, which may resample); the network's when there are none.
    unit : {"nm", "cm-1"} or None, default=None
    measurement : {"absorbance", "reflectance"} or None, default=None
        What the model's input spectra are, when recorded.
    preprocessing : list of (str, transformer), default=[]
        Fitted steps that came before the network in the source Pipeline.
    training_summary : dict, default={}
        Samples and domains the source was trained on.

    See Also
    --------
    as_source : The source behind a model file or a fitted model.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_soilspec.neural import SpectralCNNRegressor
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(40, 16)), rng.normal(size=40)
    >>> net = SpectralCNNRegressor(module_params={"channels": (4,), "shared_units": (8,),
    ...                                           "head_units": 8},
    ...                            max_epochs=1, random_state=0).fit(X, y)
    >>> source = net.export_source()
    >>> source.architecture, source.input_shape, source.target_names, source.standardize
    ('conv1d', (16,), ['target_0'], 'pooled')
    >>> source.build_module().heads["target_0"] is not None
    True
    """

    architecture: str
    module_config: dict
    state_dict: dict
    input_shape: tuple
    target_names: list
    y_mean: np.ndarray
    y_scale: np.ndarray
    x_mean: object = None
    x_scale: object = None
    standardize: str = "pooled"
    wavelengths: object = None
    input_wavelengths: object = None
    unit: object = None
    measurement: object = None
    preprocessing: list = field(default_factory=list)
    training_summary: dict = field(default_factory=dict)

    def build_module(self):
        """A torch module holding the source's weights (in eval mode)."""
        # Deferred, as every import of the network package here: importing
        # it runs its __init__, which imports the estimator, which imports
        # this package.
        from ..neural._modules import build_module

        module = build_module(self.architecture, self.input_shape, self.target_names,
                              self.module_config)
        try:
            module.load_state_dict(self.state_dict)
        except RuntimeError as exc:
            raise ValueError(
                "The source's weights do not fit the network its configuration describes "
                f"({str(exc).splitlines()[0]})."
            ) from None
        return module.eval()
