"""The localisation protocol: global vs local vs spiked vs transfer, per domain."""

import sys
import time
import warnings
from numbers import Integral, Real

import joblib
import numpy as np
import pandas as pd
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator
from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from ._fitting import count_fits, fit_global, run_domain
from ._progress import FitProgress
from ._result import ExperimentResult
from ._spec import as_spec

__all__ = ["LocalisationExperiment"]


class LocalisationExperiment(BaseEstimator):
    """Compare global, local, spiked and transfer models on every domain.

    The protocol of Padarian, Minasny & McBratney (2019, Geoderma 340:279),
    "Transfer learning to localise a continental soil vis-NIR calibration
    model", with domains (countries, sites) of one library:

    * each target domain in turn is the local data set; a test split is held
      out (``test_size``, or the library's own folds with
      ``split="folds"``) and the rest is the local training set;
    * the global training set is every other domain; ``"global"`` models are
      fitted on it once per target domain (it does not change between
      repeats) and every ``"transfer"`` model naming one as ``source`` starts
      from that same fitted model;
    * every model predicts the same local test rows; this is repeated over
      ``n_repeats`` random splits so that a result is not one lucky split.

    Validation for early stopping or for choosing PLS components happens
    inside the models (``validation_fraction`` of the CNN, the inner CV of
    ``PLSRegressionCV``), on training rows only.

    Parameters
    ----------
    models : dict of str -> ModelSpec or estimator, default=None
        The models to compare. A bare estimator is trained locally. None:
        :func:`default_models`.
    target_domains : list, default=None
        Domains used as the local data set in turn. None: every domain with
        at least ``min_domain_size`` samples. Every domain is part of the
        global training set of the others whatever this list holds.
    targets : list of str, default=None
        Properties to model (default: all of the library).
    test_size : float or int, default=0.1
        Test fraction (or count) of the target domain for
        ``split="random"``.
    n_repeats : int, default=5
        Random splits per domain for ``split="random"``. With
        ``split="folds"`` every fold is the test set once and this is ignored.
    split : {"random", "folds"}, default="random"
        ``"folds"`` uses the library's ``folds`` (e.g. LimeSoDa's fold ids)
        as outer test folds; rows whose fold id is NaN only train, so a
        single fold id marks one held-out test set.
    min_domain_size : int, default=20
        Smallest domain used as a target domain when ``target_domains`` is
        None (and the smallest allowed in it).
    n_jobs : int, default=None
        Domains run in parallel with :class:`joblib.Parallel` and the default
        backend, so ``with joblib.parallel_backend("dask"):`` spreads them over
        a dask cluster without any change here. One domain is the unit of
        work: more jobs than target domains leave workers idle, and each
        worker's torch and BLAS get ``cpu_count // n_jobs`` threads (joblib's
        limit), so ``n_jobs`` equal to the number of cores, at most one per
        domain, uses a small machine best.
    random_state : int, RandomState or None, default=0
        Seed of the test splits. Models keep their own ``random_state``.
    verbose : int, default=1
        0: silent; 1: a progress bar on stderr over the model fits of the
        whole experiment (fits done and to do, elapsed time, an estimate of
        the time left, the domain and model being fitted), drawn only when
        stderr is a terminal, and one line per domain on stdout; 2: also
        the per-epoch output of every model that has a ``verbose`` parameter
        (skorch). The experiment sets every parameter named ``verbose`` of
        its models accordingly. With ``n_jobs`` the workers report each fit
        to the bar as it ends (through a local multiprocessing manager);
        with a backend whose workers may be remote (dask) the bar advances
        as each domain completes.
    cache_global : bool, default=False
        Keep every fitted ``"global"`` model in ``global_models_`` and reuse
        it in later calls of :meth:`run` whose global library for that
        domain holds the same samples (by ``sample_ids``). A study that runs
        one domain at a time with its own test rows, such as a local-data-size
        curve (every size and fold a run of its own), then trains each global
        model once per domain. The cache trusts that a model name stands for
        the same estimator in every run; ``global_models_.clear()`` empties it.
        With ``n_jobs``, the fitted models travel back from the workers.

    Attributes
    ----------
    global_models_ : dict
        Only with ``cache_global=True``: fitted global models keyed by
        ``(model name, domain, number of global samples, fingerprint of
        their sample ids)``.

    See Also
    --------
    ModelSpec : how a model is trained in the experiment.
    ExperimentResult : the tables, the summary, CSV files and the report.

    Notes
    -----
    Scores are given per repeat and pooled per domain (all test predictions
    of all repeats together; RMSE etc. of the pooled predictions, which is
    what the study reports). Pooled predictions also feed the paired test of
    :func:`paired_rmse_test`, resampling per sample.

    Models that cannot take NaN targets are wrapped in
    :class:`PerTargetRegressor` (see ``ModelSpec.missing_targets``): one fit
    per property on the rows where it was measured.

    One domain is one task, so a LUCAS-size experiment spreads over a dask
    cluster with the ordinary joblib pattern::

        from dask.distributed import Client
        import joblib

        client = Client("scheduler-address:8786")
        with joblib.parallel_backend("dask"):
            result = LocalisationExperiment(n_jobs=-1).run(library)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.cross_decomposition import PLSRegression
    >>> from sklearn_soilspec.datasets import SpectralLibrary
    >>> from sklearn_soilspec.experiments import LocalisationExperiment, ModelSpec
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 20))
    >>> lib = SpectralLibrary(X=X, Y=X[:, :2] @ [[1.0], [0.5]],
    ...                       groups=np.repeat(["a", "b", "c"], 20),
    ...                       wavelengths=np.arange(400.0, 420.0), target_names=["OC"])
    >>> exp = LocalisationExperiment(
    ...     models={"pls_local": PLSRegression(2),
    ...             "pls_global": ModelSpec(PLSRegression(2), training="global")},
    ...     n_repeats=2, test_size=0.25, verbose=0)
    >>> result = exp.run(lib)
    >>> result.scores_pooled.shape[0]  # 3 domains x 1 property x 2 models
    6
    """

    _parameter_constraints = {
        "models": [dict, None],
        "target_domains": ["array-like", None],
        "targets": ["array-like", str, None],
        "test_size": [
            Interval(Real, 0, 1, closed="neither"),
            Interval(Integral, 1, None, closed="left"),
        ],
        "n_repeats": [Interval(Integral, 1, None, closed="left")],
        "split": [StrOptions({"random", "folds"})],
        "min_domain_size": [Interval(Integral, 2, None, closed="left")],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "cache_global": ["boolean"],
    }

    def __init__(
        self,
        models=None,
        target_domains=None,
        targets=None,
        test_size=0.1,
        n_repeats=5,
        split="random",
        min_domain_size=20,
        n_jobs=None,
        random_state=0,
        verbose=1,
        cache_global=False,
    ):
        self.models = models
        self.target_domains = target_domains
        self.targets = targets
        self.test_size = test_size
        self.n_repeats = n_repeats
        self.split = split
        self.min_domain_size = min_domain_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.cache_global = cache_global

    def run(self, library):
        """Run the experiment on a multi-domain library.

        Parameters
        ----------
        library : SpectralLibrary
            Spectra, properties (NaN where not measured) and one domain label
            per sample.

        Returns
        -------
        result : ExperimentResult
        """
        self._validate_params()
        library = self._check_library(library)
        specs = self._check_models()
        domains = self._check_domains(library, specs)
        splits = self._make_splits(library, domains)
        t0 = time.perf_counter()
        if self.verbose:
            print(
                f"Localisation experiment: {len(domains)} target domain(s), "
                f"{len(library.target_names)} propert"
                f"{'y' if len(library.target_names) == 1 else 'ies'}, {len(specs)} model(s), "
                f"{len(splits[domains[0]])} repeat(s).",
                file=sys.stdout, flush=True,
            )
        cached, keys = {}, {}
        if self.cache_global:
            if not hasattr(self, "global_models_"):
                self.global_models_ = {}
            for d in domains:
                keys[d] = _global_key(library, d)
                cached[d] = {name: self.global_models_[(name, *keys[d])] for name in specs
                             if (name, *keys[d]) in self.global_models_}
        n_fits = {d: count_fits(specs, len(splits[d]), cached.get(d)) for d in domains}
        with FitProgress(sum(n_fits.values()), self.verbose) as progress:
            parts = self._run_domains(library, domains, specs, splits, cached, n_fits,
                                      progress)
        if self.cache_global:
            for domain, part in zip(domains, parts):
                for name, est in part["global_models"].items():
                    self.global_models_[(name, *keys[domain])] = est
        if self.verbose:
            print(f"Done in {time.perf_counter() - t0:.1f} s.", flush=True)
        return ExperimentResult.from_parts(
            parts,
            specs=specs,
            targets=list(library.target_names),
            config={
                "split": self.split,
                "n_repeats": len(splits[domains[0]]),
                "test_size": self.test_size,
                "random_state": self.random_state,
                "n_samples": int(library.n_samples),
                "domains": [str(d) for d in domains],
                "target_units": dict(getattr(library, "target_units", {}) or {}),
            },
        )

    def _run_domains(self, library, domains, specs, splits, cached, n_fits, progress):
        """The per-domain parts, in the order of ``domains``."""
        def kwargs(i, domain):
            return {"library": library, "domain": domain, "specs": specs,
                    "tests": splits[domain], "verbose": int(self.verbose),
                    "tag": f"[{i + 1}/{len(domains)}]", "fitted_global": cached.get(domain)}

        if effective_n_jobs(self.n_jobs) == 1:
            # In this process: the bar follows every single fit.
            return [run_domain(**kwargs(i, d), progress=progress) for i, d in enumerate(domains)]
        with progress.relay() as reporter, warnings.catch_warnings():
            # loky replaces a worker whose memory grew (torch's allocator
            # after training a network) between tasks and says so; nothing
            # is lost, and the user of the command cannot act on it.
            warnings.filterwarnings("ignore", message="A worker stopped while some jobs",
                                    category=UserWarning)
            # Workers on this machine report every fit to the bar as it
            # happens; elsewhere (dask) the bar advances by whole domains.
            # First every global model of every domain, one task each (they
            # are most of the time, and three domains would keep only two of
            # three workers busy to the end); then the domains, from them.
            todo = [(i, d, name) for i, d in enumerate(domains) for name, spec in specs.items()
                    if spec.training == "global" and name not in (cached.get(d) or {})]
            fitted = {d: dict(cached.get(d) or {}) for d in domains}
            if todo:
                models = Parallel(n_jobs=self.n_jobs)(
                    delayed(fit_global)(library, d, name, specs[name], int(self.verbose),
                                        f"[{i + 1}/{len(domains)}]", reporter)
                    for i, d, name in todo)
                for (_, d, name), est in zip(todo, models):
                    fitted[d][name] = est
            tasks = [delayed(run_domain)(**{**kwargs(i, d), "fitted_global": fitted[d]},
                                         progress=reporter)
                     for i, d in enumerate(domains)]
            try:
                # A generator, so that the bar advances as each domain comes back.
                results = Parallel(n_jobs=self.n_jobs, return_as="generator")(tasks)
            except (TypeError, ValueError):
                # joblib < 1.3, or a backend that only returns lists.
                results = Parallel(n_jobs=self.n_jobs)(tasks)
            parts = []
            for domain, part in zip(domains, results):
                if reporter is None:
                    progress.domain_done(domain, n_fits[domain])
                parts.append(part)
        return parts

    # -- checks --------------------------------------------------------------
    def _check_library(self, library):
        needed = ("X", "Y", "groups", "target_names", "as_frame")
        missing = [a for a in needed if not hasattr(library, a)]
        if missing:
            raise ValueError(
                f"run() needs a SpectralLibrary (X, Y, groups, ...); got "
                f"{type(library).__name__} without {missing}."
            )
        if self.targets is not None:
            library = library.select_targets(self.targets)
        library = library.as_frame()
        # No dtype: a float32 LUCAS-size library is checked without a float64 copy.
        finite = np.isfinite(library.X.to_numpy()).all(axis=1)
        if not finite.all():
            rows = library.X.index[~finite][:5].tolist()
            raise ValueError(
                f"The library has NaN or infinite spectra (samples {rows}, ...); "
                "remove or repair them before running the experiment."
            )
        return library

    def _check_models(self):
        if self.models is None:
            from ._models import default_models

            specs = default_models(random_state=self.random_state)
        else:
            specs = {str(k): as_spec(v) for k, v in self.models.items()}
        if not specs:
            raise ValueError("models is empty: give at least one model to compare.")
        for name, spec in specs.items():
            spec.check(name, specs)
        return specs

    def _check_domains(self, library, specs):
        counts = pd.Series(library.groups).value_counts()
        if self.target_domains is None:
            domains = [d for d in library.domains if counts[d] >= self.min_domain_size]
            if not domains:
                raise ValueError(
                    f"No domain has min_domain_size={self.min_domain_size} samples "
                    f"(largest: {counts.max()}); lower min_domain_size."
                )
        else:
            domains = list(self.target_domains)
            unknown = [d for d in domains if d not in counts.index]
            if unknown:
                raise ValueError(
                    f"Unknown target domains {unknown}; the library has "
                    f"{library.domains.tolist()}."
                )
            small = {d: int(counts[d]) for d in domains if counts[d] < self.min_domain_size}
            if small:
                raise ValueError(
                    f"Target domains {small} have fewer than min_domain_size="
                    f"{self.min_domain_size} samples."
                )
        needs_global = any(s.training != "local" for s in specs.values())
        if needs_global and counts.size < 2:
            raise ValueError(
                "Global, spiked and transfer models need at least two domains; the "
                f"library has one ({counts.index[0]!r})."
            )
        return domains

    def _make_splits(self, library, domains):
        """Test rows (positions within each domain) for every repeat."""
        if self.split == "folds" and library.folds is None:
            raise ValueError("split='folds' needs a library with `folds`; this one has none.")
        base = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        splits = {}
        position = {d: i for i, d in enumerate(library.domains)}
        for d in domains:
            rows = np.flatnonzero(library.groups == d)
            if self.split == "folds":
                folds = np.asarray(library.folds)[rows]
                ids = pd.unique(folds[pd.notna(folds)])
                tests = [np.flatnonzero(folds == f) for f in sorted(ids)]
                # Rows without a fold id only train, so one fold id is a
                # held-out test set; a test set needs training rows beside it.
                if not tests or any(t.size == rows.size for t in tests):
                    raise ValueError(
                        f"Domain {d!r} has {ids.size} fold id(s) and "
                        f"{int(pd.isna(folds).sum())} row(s) without one; split='folds' "
                        "needs at least 2 fold ids, or 1 and rows without a fold id "
                        "(which only train)."
                    )
            else:
                if isinstance(self.test_size, Integral) and self.test_size >= rows.size:
                    raise ValueError(
                        f"test_size={self.test_size} leaves no training rows in domain "
                        f"{d!r} ({rows.size} samples)."
                    )
                # One seed per domain: its splits do not depend on n_jobs or on
                # which other domains are run. Replicate scans of a sample (its
                # id repeated) go to the test rows together, or a test scan's
                # twin would be in training (test_size then counts samples).
                ids = (None if library.sample_ids is None
                       else np.asarray(library.sample_ids)[rows].astype(str))
                if ids is None or pd.unique(ids).size == rows.size:
                    ids = None
                split = ShuffleSplit if ids is None else GroupShuffleSplit
                ss = split(self.n_repeats, test_size=self.test_size,
                           random_state=base + position[d])
                tests = [test for _, test in ss.split(rows, groups=ids)]
            splits[d] = tests
        return splits


def _global_key(library, domain):
    """(n, fingerprint) of the sample ids of ``domain``'s global library."""
    ids = np.asarray(library.sample_ids)[np.asarray(library.groups != domain)]
    return domain, int(ids.size), joblib.hash(ids.astype(str))
