"""Spectral data augmentation of training batches: the nuisance a new instrument or soil adds."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, validate_parameter_constraints
from skorch.callbacks import Callback

__all__ = ["SpectralAugmenter"]


class SpectralAugmenter(BaseEstimator):
    """Random perturbations of spectra that mimic instrument and sample effects.

    Passed as ``SpectralCNNRegressor(augment=...)``, it perturbs every
    training batch (never validation or prediction inputs), with draws seeded
    by the regressor's ``random_state``. Each spectrum gets

    * an additive offset (baseline), ``offset`` x N(0, 1);
    * a linear slope across the spectrum, ``slope`` x N(0, 1) from -1 to +1;
    * a multiplicative scatter factor ``1 + scatter`` x N(0, 1) about the
      spectrum's mean;
    * a shift along the axis by up to ``shift`` channels (edges repeated);
    * white noise, ``noise`` x N(0, 1) per channel.

    Sizes are in units of each spectrum's own standard deviation over its
    channels, so the same setting means the same on reflectance, absorbance
    or SNV input.

    Parameters
    ----------
    offset : float, default=0.1
    slope : float, default=0.05
    scatter : float, default=0.05
    shift : int, default=1
    noise : float, default=0.01
    probability : float, default=1.0
        Share of the spectra of a batch that are perturbed.

    See Also
    --------
    sklearn_soilspec.neural.SpectralCNNRegressor : the ``augment`` parameter.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_soilspec.neural import SpectralAugmenter
    >>> aug = SpectralAugmenter(offset=0.2, noise=0.0)
    >>> X = np.tile(np.linspace(0, 1, 50), (4, 1))
    >>> Xa = aug.perturb(X, random_state=0)
    >>> Xa.shape, bool(np.allclose(Xa, X))
    ((4, 50), False)
    """

    _parameter_constraints = {
        "offset": [Interval(Real, 0, None, closed="left")],
        "slope": [Interval(Real, 0, None, closed="left")],
        "scatter": [Interval(Real, 0, 1, closed="left")],
        "shift": [Interval(Integral, 0, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "probability": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, offset=0.1, slope=0.05, scatter=0.05, shift=1, noise=0.01,
                 probability=1.0):
        self.offset = offset
        self.slope = slope
        self.scatter = scatter
        self.shift = shift
        self.noise = noise
        self.probability = probability

    def check(self):
        """Validate the parameters; a clear error names a bad one."""
        validate_parameter_constraints(
            self._parameter_constraints, self.get_params(deep=False), type(self).__name__
        )
        return self

    def perturb(self, X, random_state=None):
        """A perturbed copy of ``X`` (n_samples, n_channels), as a NumPy array.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_channels)
        random_state : int or None

        Returns
        -------
        X_aug : ndarray of shape (n_samples, n_channels)
        """
        self.check()
        gen = torch.Generator().manual_seed(
            int(np.random.default_rng(random_state).integers(2**31))
        )
        X_t = torch.as_tensor(np.asarray(X, dtype=np.float32))
        return self._apply(X_t.clone(), gen).numpy().astype(np.float64)

    def _apply(self, X, gen):
        """Perturb the float tensor ``X`` (n, p) in place."""
        n, p = X.shape
        kw = {"generator": gen, "dtype": X.dtype}
        sd = X.std(dim=1, keepdim=True).clamp_min(1e-12)
        mean = X.mean(dim=1, keepdim=True)
        keep = torch.rand(n, generator=gen) < self.probability
        if self.shift:
            k = torch.randint(-self.shift, self.shift + 1, (n,), generator=gen) * keep
            idx = (torch.arange(p)[None, :] - k[:, None]).clamp(0, p - 1)
            X.copy_(torch.gather(X, 1, idx))
        delta = torch.zeros_like(X)
        if self.scatter:
            delta += (X - mean) * self.scatter * torch.randn(n, 1, **kw)
        if self.offset:
            delta += sd * self.offset * torch.randn(n, 1, **kw)
        if self.slope:
            ramp = torch.linspace(-1.0, 1.0, p, dtype=X.dtype)[None, :]
            delta += sd * self.slope * torch.randn(n, 1, **kw) * ramp
        if self.noise:
            delta += sd * self.noise * torch.randn(n, p, **kw)
        X += delta * keep[:, None]
        return X


class AugmentBatches(Callback):
    """Apply a :class:`SpectralAugmenter` to training batches in the network's input space.

    The network sees standardised inputs ``(x - mean) / scale``; perturbing
    in the spectra's own units and re-standardising keeps the sizes
    meaningful whatever the standardisation.
    """

    def __init__(self, augmenter, x_mean, x_scale, seed):
        self.augmenter = augmenter
        self.x_mean = None if x_mean is None else torch.as_tensor(x_mean, dtype=torch.float32)
        self.x_scale = None if x_scale is None else torch.as_tensor(x_scale, dtype=torch.float32)
        self.seed = int(seed)

    def on_train_begin(self, net, **kwargs):
        self._gen = torch.Generator().manual_seed(self.seed)

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if not training:
            return
        X = batch[0]  # a gathered copy (TensorBatchLoader), safe to change in place
        flat = X.reshape(X.shape[0], -1)
        raw = flat if self.x_mean is None else flat * self.x_scale + self.x_mean
        raw = self.augmenter._apply(raw.clone(), self._gen)
        flat.copy_(raw if self.x_mean is None else (raw - self.x_mean) / self.x_scale)
