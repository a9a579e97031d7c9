"""Gaussian process regression on principal-component scores of spectra."""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context, clone
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, DotProduct, WhiteKernel
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._targets import MissingTargetsMixin, check_targets
from ._validation import check_finite_predictions, check_magnitude

__all__ = ["PCAGaussianProcessRegressor"]


def _default_kernel(name):
    # The RBF length-scale bounds span the score ranges of standardised
    # spectra; the white-noise term lets the GP tell measurement noise from
    # signal, which PLSR cannot.
    rbf = ConstantKernel(1.0) * RBF(10.0, (1e-1, 1e4))
    noise = WhiteKernel(0.1, (1e-4, 1e1))
    if name == "rbf":
        return rbf + noise
    return ConstantKernel(1.0) * DotProduct(1.0) + rbf + noise


class PCAGaussianProcessRegressor(MissingTargetsMixin, RegressorMixin, BaseEstimator):
    """Gaussian process regression on the principal components of spectra.

    Spectra are standardised per wavelength and projected on their principal
    components; one :class:`sklearn.gaussian_process.GaussianProcessRegressor`
    per soil property is fitted on the component scores of the rows where the
    property was measured, its kernel hyper-parameters by maximum marginal
    likelihood. A kernel with a linear and an RBF part fits the near-linear
    spectra-property relation PLSR fits, plus a smooth non-linear remainder,
    and its noise term is estimated rather than chosen by a component count:
    on small local sets (10-100 spectra) that makes it a strong and
    cheap local model, and a member whose errors differ from PLSR's and a
    network's in a :class:`~sklearn_soilspec.ensemble.BlendRegressor`.

    Parameters
    ----------
    n_components : int or float, default=0.99
        Principal components kept: an int, or a float in (0, 1) for the share
        of spectral variance to keep. Clipped to one less than the number of
        rows.
    kernel : {"linear+rbf", "rbf"} or kernel object, default="linear+rbf"
        Covariance of the GP on the component scores; each
        named kernel includes a white-noise term. A
        :class:`sklearn.gaussian_process.kernels.Kernel` is used as given.
    n_restarts_optimizer : int, default=2
        Extra random starts of the hyper-parameter optimiser.
    random_state : int, RandomState instance or None, default=0
        Seeds the optimiser's random starts.

    Attributes
    ----------
    mean_, scale_ : ndarray of shape (n_features_in_,)
        Per-wavelength mean and standard deviation used to standardise the
        spectra (1 where a wavelength is constant).
    pca_ : sklearn.decomposition.PCA
        Projection fitted on the standardised spectra.
    n_components_ : int
        Number of components kept.
    estimators_ : list of GaussianProcessRegressor
        One fitted GP per target.
    n_features_in_ : int
        Number of wavelengths seen in ``fit``.

    See Also
    --------
    PLSRegressionCV : PLSR with the number of components cross-validated.
    sklearn_soilspec.ensemble.BlendRegressor : average it with PLSR and a network.

    Notes
    -----
    Rows with a missing (NaN) target are left out for that target only. The
    cost grows with the cube of the number of rows, so this is a model for
    local sets of up to a few thousand spectra, not for a global library.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_soilspec.baselines import PCAGaussianProcessRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 30))
    >>> y = np.column_stack([X[:, 0] - X[:, 1], np.sin(X[:, 2])])
    >>> y[::4, 1] = np.nan  # the second property was not measured everywhere
    >>> model = PCAGaussianProcessRegressor(n_components=10).fit(X, y)
    >>> model.predict(X[:2]).shape
    (2, 2)
    >>> len(model.estimators_)
    2
    """

    _parameter_constraints = {
        "n_components": [
            Interval(Integral, 1, None, closed="left"),
            Interval(Real, 0, 1, closed="neither"),
        ],
        "kernel": [StrOptions({"linear+rbf", "rbf"}), HasMethods(["__call__", "diag"])],
        "n_restarts_optimizer": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, n_components=0.99, *, kernel="linear+rbf", n_restarts_optimizer=2,
                 random_state=0):
        self.n_components = n_components
        self.kernel = kernel
        self.n_restarts_optimizer = n_restarts_optimizer
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Project the spectra and fit one GP per property.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_wavelengths)
            Spectra.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Soil properties; NaN where a property was not measured.

        Returns
        -------
        self : PCAGaussianProcessRegressor
        """
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        check_magnitude(X, type(self).__name__)
        Y, _, single = check_targets(y, X.shape[0], type(self).__name__)
        check_magnitude(Y, type(self).__name__, "targets")
        self.mean_ = X.mean(axis=0)
        scale = X.std(axis=0)
        if not (scale > 0).any():
            raise ValueError(
                f"All {X.shape[0]} spectra are identical: they have no principal "
                "components to regress on. Check that the spectra were read correctly "
                "(one per sample)."
            )
        # Constant wavelengths (e.g. a padded edge) carry nothing; avoid 0/0.
        self.scale_ = np.where(scale > 0, scale, 1.0)
        Z = (X - self.mean_) / self.scale_
        n_max = min(X.shape[0] - 1, X.shape[1])
        n = self.n_components
        if isinstance(n, Integral):
            n = min(int(n), max(1, n_max))
        self.pca_ = PCA(n_components=n, svd_solver="full").fit(Z)
        self.n_components_ = int(self.pca_.n_components_)
        T = self._scores(Z)
        kernel = (_default_kernel(self.kernel) if isinstance(self.kernel, str)
                  else self.kernel)
        self.estimators_ = []
        for j in range(Y.shape[1]):
            rows = np.flatnonzero(~np.isnan(Y[:, j]))
            if rows.size < 2:
                raise ValueError(
                    f"Target {j} has {rows.size} measured value(s); "
                    f"{type(self).__name__} needs at least 2."
                )
            gp = GaussianProcessRegressor(clone(kernel), normalize_y=True,
                                          n_restarts_optimizer=self.n_restarts_optimizer,
                                          random_state=self.random_state)
            with warnings.catch_warnings():
                # A bound reached on a few dozen rows is expected (e.g. no
                # non-linear part): the fit is still the likelihood maximum.
                warnings.simplefilter("ignore", ConvergenceWarning)
                self.estimators_.append(gp.fit(T[rows], Y[rows, j]))
        self._single_output = single
        return self

    def _scores(self, Z):
        # Scores keep their variances: the trailing components, mostly noise,
        # stay small in the kernel's distances.
        return self.pca_.transform(Z)

    def predict(self, X, return_std=False):
        """Predict the soil properties of spectra ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_wavelengths)
        return_std : bool, default=False
            Also return each prediction's posterior standard deviation
            (including the fitted noise), an uncertainty per sample.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
        y_std : ndarray, same shape, only with ``return_std=True``
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        check_magnitude(X, type(self).__name__)
        T = self._scores((X - self.mean_) / self.scale_)
        out = [est.predict(T, return_std=return_std) for est in self.estimators_]
        if return_std:
            mean = np.column_stack([m for m, _ in out])
            std = np.column_stack([s for _, s in out])
            check_finite_predictions(mean, type(self).__name__)
            return (mean[:, 0], std[:, 0]) if self._single_output else (mean, std)
        Y = check_finite_predictions(np.column_stack(out), type(self).__name__)
        return Y[:, 0] if self._single_output else Y
