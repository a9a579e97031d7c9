"""The candidate models a LocalisedRegressor weighs, each behind one small interface.

Every member takes the local spectra as a float array on the local grid and
the local targets as an ``(n_samples, n_targets)`` array with NaN where a
property was not measured, and predicts every local property (NaN for the
properties it cannot predict). Members that need another grid (the source
model's, the library's) resample inside, so that cross-fitting can treat them
all alike. The source model and the library are held by reference: cloning a
member never copies them.
"""

import inspect
import warnings

import numpy as np
import pandas as pd
from sklearn import get_config
from sklearn.base import BaseEstimator, clone
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state

from .._fingerprints import seen_rows
from ..preprocessing import WavelengthResampler, format_wavelengths, resample_spectra

__all__ = []

# At either end the local range may fall short of the source (or library)
# grid by this share of the grid's span: rounding of stored wavelengths and
# instruments whose first usable point is one step later. The missing points
# take the nearest measured value; a larger shortfall is an error.
_EDGE_SHORTFALL = 0.02


def as_frame(X, wavelengths):
    """Spectra as a DataFrame named by wavelength, or the array when there is no axis."""
    if wavelengths is None:
        return np.asarray(X)
    return pd.DataFrame(np.asarray(X), columns=list(format_wavelengths(wavelengths)))


def regrid(X, src, dst, what):
    """Resample rows of ``X`` from ``src`` onto ``dst``; None axes mean "already on it"."""
    X = np.asarray(X, dtype=np.float64)
    if src is None or dst is None:
        return X
    if src.shape == dst.shape and np.allclose(src, dst):
        return X
    lo, hi = min(src[0], src[-1]), max(src[0], src[-1])
    dlo, dhi = min(dst[0], dst[-1]), max(dst[0], dst[-1])
    slack = _EDGE_SHORTFALL * (dhi - dlo)
    if lo > dlo + slack or hi < dhi - slack:
        covered = max(0.0, min(hi, dhi) - max(lo, dlo)) / max(dhi - dlo, 1e-12)
        raise ValueError(
            f"The local spectra ({lo:g}-{hi:g}) do not cover the grid of {what} "
            f"({dlo:g}-{dhi:g}): only {covered:.0%} of it overlaps, and spectra are never "
            "extrapolated. Use local spectra measured over that range, a source model or "
            "library on a grid inside the local range, or leave the members that need it "
            "out (members=['plsr', 'gpr', ...])."
        )
    return resample_spectra(X, src, np.clip(dst, lo, hi))


class Member(BaseEstimator):
    """Base of the members: column bookkeeping and clone-by-reference.

    ``columns`` lists the local target columns the member predicts
    (None: all); ``min_rows`` is the fewest measured training rows a column
    needs, below which the member predicts NaN for it (a fold with two pH
    values cannot fit a PLSR of pH, and must not stop the other properties).
    """

    # Parameters copied by reference through clone: fitted models, libraries.
    _shared = ()
    min_rows = 3

    def __sklearn_clone__(self):
        params = self.get_params(deep=False)
        return type(self)(**{k: v if k in self._shared else clone(v, safe=False)
                             for k, v in params.items()})

    def fit(self, X, Y, groups=None):
        """Fit on the rows of ``X``; ``groups`` (sample ids) keep inner folds by sample."""
        Y = np.asarray(Y, dtype=np.float64)
        wanted = range(Y.shape[1]) if self.columns is None else self.columns
        self.n_targets_ = Y.shape[1]
        self.fitted_columns_ = [j for j in wanted
                                if np.sum(~np.isnan(Y[:, j])) >= self.min_rows]
        if self.fitted_columns_:
            self._fit(np.asarray(X, dtype=np.float64), Y[:, self.fitted_columns_],
                      None if groups is None else np.asarray(groups))
        return self

    def predict(self, X):
        X = np.asarray(X, dtype=np.float64)
        out = np.full((X.shape[0], self.n_targets_), np.nan)
        if self.fitted_columns_:
            out[:, self.fitted_columns_] = np.asarray(self._predict(X)).reshape(len(X), -1)
        return out


class TransferView:
    """How local spectra reach a fitted source model: its grid and its entry point.

    A source Pipeline that starts with a :class:`WavelengthResampler` is
    entered after it (the local spectra are resampled once, straight onto the
    grid the rest of the Pipeline was fitted on); otherwise the grid is read
    from the names of the columns the source was fitted on.
    """

    def __init__(self, source, local_wavelengths):
        from ..preprocessing import parse_wavelengths

        entry, grid, names = source, None, None
        if isinstance(source, Pipeline) and isinstance(source.steps[0][1], WavelengthResampler):
            first = source.steps[0][1]
            grid = np.asarray(first.target_wavelengths_, dtype=np.float64)
            names = list(first.get_feature_names_out())
            entry = Pipeline(source.steps[1:]) if len(source.steps) > 1 else source.steps[-1][1]
        elif getattr(source, "feature_names_in_", None) is not None:
            names = [str(c) for c in source.feature_names_in_]
            try:
                grid = parse_wavelengths(names)
            except ValueError:
                grid = None
        final = entry.steps[-1][1] if isinstance(entry, Pipeline) else entry
        if grid is None and getattr(final, "wavelengths_", None) is not None and not isinstance(
                entry, Pipeline):
            grid = np.asarray(final.wavelengths_, dtype=np.float64)
        first_step = entry.steps[0][1] if isinstance(entry, Pipeline) else entry
        # Feed names only to a model fitted with them (else sklearn warns).
        self.takes_names = getattr(first_step, "feature_names_in_", None) is not None
        self.names = names if self.takes_names else None
        self.entry, self.grid, self.final = entry, grid, final
        self.local_wavelengths = local_wavelengths
        self.n_features = getattr(first_step, "n_features_in_", None)
        if self.grid is not None and local_wavelengths is not None:
            regrid(np.zeros((1, len(local_wavelengths))), local_wavelengths, self.grid,
                   "the source model")

    def to_source(self, X):
        X = regrid(X, self.local_wavelengths, self.grid, "the source model")
        if self.n_features is not None and X.shape[1] != self.n_features:
            raise ValueError(
                f"The source model takes spectra of {self.n_features} wavelengths, but the "
                f"local spectra have n_features = {X.shape[1]} and no wavelength axis to "
                "resample them by: pass a DataFrame whose columns are the wavelengths, or "
                "set wavelengths= to one value per column."
            )
        if self.takes_names:
            return pd.DataFrame(X, columns=self.names)
        return X

    def predict(self, X):
        return np.asarray(self.entry.predict(self.to_source(X)), dtype=np.float64).reshape(
            len(X), -1)

    def warn_if_inverted(self, X, stacklevel=4):
        """Warn where the local spectra look inverted against the source network's training data.

        The mean of what the network sees of the local spectra is compared
        with the mean it was trained on (``x_mean_``). Two soils measured the
        same way have mean spectra of one shape; reflectance against
        absorbance (``log10(1/R)``) turns the shape over, and a negative
        correlation says so (``tests/test_localised_groups.py``: LimeSoDa
        vis-NIR and MIR sites against sources trained on the other sites).
        The transfer candidates would still be weighed (and outscored), but
        the user should know why they fail.
        """
        ref = getattr(self.final, "x_mean_", None)
        if ref is None or len(X) == 0:
            return
        F = np.asarray(self.features(X), dtype=np.float64)
        local, ref = F.reshape(len(F), -1).mean(axis=0), np.ravel(ref)
        if local.shape != ref.shape or not (np.std(local) > 0 and np.std(ref) > 0):
            return
        r = float(np.corrcoef(local, ref)[0, 1])
        if r < 0:
            warnings.warn(
                f"The local spectra look inverted against the spectra the source was trained on "
                f"(correlation of their mean spectra, as the source sees them, {r:.2f}): is one "
                "reflectance and the other absorbance? Convert the local spectra to the source's "
                "measurement (sklearn_soilspec.preprocessing.Absorbance turns reflectance into "
                "absorbance), or the transfer candidates cannot help.", UserWarning,
                stacklevel=stacklevel)

    def seen(self, X, judged=False, stacklevel=4):
        """Mask of the local rows the source network was trained on (by fingerprint), warned of.

        A regional library's global model often saw the farm's samples; its
        out-of-fold error on them is in-sample, and an interval resting on it
        would be too narrow. ``judged``: library candidates will be weighed,
        which can judge the source honestly.
        """
        mask = seen_rows(getattr(self.final, "training_fingerprints_", None), self.features(X))
        if mask.any():
            how = ("the weights are measured from the best candidate not built on the source"
                   if judged else
                   "no local candidate can judge it, so the candidates within 1.5x of the best "
                   "are weighed alike whatever the number of rows (pass the library it was "
                   "trained on, library=..., and memory-based learning and spiked PLSR will)")
            warnings.warn(
                f"The source model was trained on {int(mask.sum())} of the {len(X)} local "
                f"spectra: its out-of-fold error on them is in-sample; {how}. The prediction "
                "intervals on those rows rest on the candidates that did not see them. Train "
                "the source without the local samples to score it honestly.", UserWarning,
                stacklevel=stacklevel)
        return mask

    def features(self, X):
        """What the source's network sees: its preprocessing applied to the local spectra."""
        X = self.to_source(X)
        if isinstance(self.entry, Pipeline) and len(self.entry.steps) > 1:
            return self.entry[:-1].transform(X)
        return X


class SourceMember(Member):
    """The source model as it is (nothing is fitted)."""

    _shared = ("view",)
    min_rows = 0

    def __init__(self, view=None, source_columns=None, columns=None):
        self.view = view
        self.source_columns = source_columns
        self.columns = columns

    def _fit(self, X, Y, groups=None):
        pass

    def _predict(self, X):
        P = self.view.predict(X)
        return P[:, [self.source_columns[j] for j in self.fitted_columns_]]


class CorrectedSourceMember(SourceMember):
    """The source with a per-property linear correction, shrunk toward none at small n.

    ``y = p + c + (b - 1) (p - mean(p))``: the least-squares offset ``c`` is
    multiplied by ``n / (n + bias_prior)`` and the slope's departure from one
    ``b - 1`` by ``n / (n + slope_prior)``, so with a handful of rows the
    correction is mostly an offset (what separates one laboratory or site from
    the library), and the slope moves only when many rows support it. The slope
    is kept within [0, 3].
    """

    min_rows = 1

    def __init__(self, view=None, source_columns=None, columns=None, bias_prior=2.0,
                 slope_prior=10.0):
        super().__init__(view, source_columns, columns)
        self.bias_prior = bias_prior
        self.slope_prior = slope_prior

    def _fit(self, X, Y, groups=None):
        P = super()._predict(X)
        self.offset_, self.slope_, self.centre_ = [], [], []
        for j in range(Y.shape[1]):
            ok = ~np.isnan(Y[:, j]) & np.isfinite(P[:, j])
            y, p = Y[ok, j], P[ok, j]
            n = ok.sum()
            centre = float(p.mean()) if n else 0.0
            c = float((y - p).mean()) * n / (n + self.bias_prior) if n else 0.0
            b = 1.0
            if n >= 3 and np.var(p) > 0:
                b_ols = np.cov(p, y, bias=True)[0, 1] / np.var(p)
                b = float(np.clip(1.0 + (b_ols - 1.0) * n / (n + self.slope_prior), 0.0, 3.0))
            self.offset_.append(c)
            self.slope_.append(b)
            self.centre_.append(centre)

    def _predict(self, X):
        P = super()._predict(X)
        c, b, m = (np.asarray(a) for a in (self.offset_, self.slope_, self.centre_))
        return P + c + (b - 1.0) * (P - m)


class FineTunedMember(Member):
    """The source network fine-tuned on the local rows, as far as held-out rows support.

    With ``checkpoints`` among ``cnn_params`` (what :func:`fine_tune_params`
    sets), the number of epochs is chosen per property by an inner
    cross-fit among those epoch counts and the source model as it is
    (:func:`~._fine_tune.select_epochs`): a property whose held-out rows do
    not show a gain is predicted by the source. The chosen fine-tuning is
    then run on all the member's rows, ``n_seeds`` times, averaged. Without
    ``checkpoints``, every property takes the run's final weights.
    """

    _shared = ("view",)
    min_rows = 2

    def __init__(self, view=None, source_columns=None, columns=None, cnn_params=None,
                 n_seeds=1, random_state=0):
        self.view = view
        self.source_columns = source_columns
        self.columns = columns
        self.cnn_params = cnn_params
        self.n_seeds = n_seeds
        self.random_state = random_state

    def _fit(self, X, Y, groups=None):
        from ._fine_tune import SOURCE, select_epochs, train

        params = dict(self.cnn_params or {})
        grid = params.pop("checkpoints", None)
        inner_cv = params.pop("inner_cv", 3)
        margin = params.pop("select_margin", 0.0)
        last = int(params.get("max_epochs", 60))
        F = self.view.features(X)
        names = [self.view.final.target_names_[self.source_columns[j]]
                 for j in self.fitted_columns_]
        seeds = check_random_state(self.random_state).randint(
            np.iinfo(np.int32).max, size=self.n_seeds)
        if grid is None:
            self.choice_ = [last] * len(names)
            self.selection_ = None
        else:
            epochs = sorted({int(e) for e in grid if int(e) <= last} | {last})
            S = self._predict_source(X)
            self.choice_, self.selection_ = select_epochs(
                self.view.final, F, Y, S, names, epochs, inner_cv, margin, int(seeds[0]),
                params, groups)
        tuned = sorted({c for c in self.choice_ if c != SOURCE})
        self.estimators_ = []
        if tuned:
            params["max_epochs"] = max(tuned)
            for seed in seeds:
                self.estimators_.append(train(self.view.final, F, Y, names, tuned, seed, params))

    def _predict_source(self, X):
        P = self.view.predict(X)
        return P[:, [self.source_columns[j] for j in self.fitted_columns_]]

    def _predict(self, X):
        from ._fine_tune import SOURCE, predict_at

        out = np.full((len(X), len(self.choice_)), np.nan)
        src = [i for i, c in enumerate(self.choice_) if c == SOURCE]
        if src:
            out[:, src] = self._predict_source(X)[:, src]
        if self.estimators_:
            F = self.view.features(X)
            for epoch in sorted({c for c in self.choice_ if c != SOURCE}):
                cols = [i for i, c in enumerate(self.choice_) if c == epoch]
                out[:, cols] = np.mean([predict_at(e, epoch, F)[:, cols]
                                        for e in self.estimators_], axis=0)
        return out


class LocalMember(Member):
    """A model trained on the local rows alone, on the local spectra's own range.

    With a ``grid`` (the working grid of fine spectra), the spectra are
    resampled onto it first.
    """

    def __init__(self, estimator=None, wavelengths=None, columns=None, grid=None):
        self.estimator = estimator
        self.wavelengths = wavelengths
        self.columns = columns
        self.grid = grid

    def _frame(self, X):
        if self.grid is None:
            return as_frame(X, self.wavelengths)
        return as_frame(regrid(X, self.wavelengths, self.grid, "the working grid"), self.grid)

    def _fit(self, X, Y, groups=None):
        est = clone(self.estimator)
        params = {}
        if groups is not None and isinstance(est, Pipeline):
            last, final = est.steps[-1]
            if "groups" in inspect.signature(final.fit).parameters:
                if get_config()["enable_metadata_routing"]:
                    # A routing Pipeline passes only what its steps request.
                    final.set_fit_request(groups=True)
                    params["groups"] = groups
                else:
                    params[f"{last}__groups"] = groups
        self.estimator_ = est.fit(self._frame(X), Y, **params)

    def _predict(self, X):
        return self.estimator_.predict(self._frame(X))


class LibraryMember(Member):
    """A model of the library spiked with the local rows (MBL, spiked PLSR), on its grid."""

    _shared = ("library_X", "library_Y")
    min_rows = 0

    def __init__(self, estimator=None, library_X=None, library_Y=None, library_wavelengths=None,
                 wavelengths=None, columns=None):
        self.estimator = estimator
        self.library_X = library_X
        self.library_Y = library_Y
        self.library_wavelengths = library_wavelengths
        self.wavelengths = wavelengths
        self.columns = columns

    def __repr__(self, N_CHAR_MAX=700):
        return (f"LibraryMember({self.estimator!r}, library of {len(self.library_X)} spectra, "
                f"columns={self.columns})")

    def _fit(self, X, Y, groups=None):
        Xl = regrid(X, self.wavelengths, self.library_wavelengths, "the library")
        lib_Y = np.asarray(self.library_Y, dtype=np.float64)[:, self.fitted_columns_]
        keep = ~np.isnan(lib_Y).all(axis=1)
        X_all = np.vstack([np.asarray(self.library_X, dtype=np.float64)[keep], Xl])
        Y_all = np.vstack([lib_Y[keep], Y])
        is_local = np.r_[np.zeros(keep.sum(), bool), np.ones(len(Xl), bool)]
        est = clone(self.estimator)
        last = est.steps[-1][0]
        self.estimator_ = est.fit(as_frame(X_all, self.library_wavelengths), Y_all,
                                  **{f"{last}__is_local": is_local})

    def _predict(self, X):
        Xl = regrid(X, self.wavelengths, self.library_wavelengths, "the library")
        return self.estimator_.predict(as_frame(Xl, self.library_wavelengths))


class MeanMember(Member):
    """The local mean of each property: the floor every other member must beat."""

    min_rows = 1

    def __init__(self, columns=None):
        self.columns = columns

    def _fit(self, X, Y, groups=None):
        self.mean_ = np.nanmean(Y, axis=0)

    def _predict(self, X):
        return np.tile(self.mean_, (len(X), 1))


class FoldMean:
    """A cross-fitted member: the mean prediction of its fold models."""

    def __init__(self, estimators):
        self.estimators_ = list(estimators)

    def predict(self, X):
        P = np.stack([e.predict(X) for e in self.estimators_])
        with warnings.catch_warnings():
            # A column a fold could not fit is NaN in that fold model only.
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(P, axis=0)

    def __repr__(self):
        return f"cross-fitted({len(self.estimators_)} x {type(self.estimators_[0]).__name__})"
