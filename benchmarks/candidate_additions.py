"""Would another local candidate help the localised model? Scored on inner folds, reported on test folds.

``localised_limesoda.py --candidates`` kept, per site and fold, every
candidate's out-of-fold predictions of the training rows (the package's own
cross-fit: ``_combine.folds(n, 5, seed)``) and its predictions of the test
rows. This script fits a new local candidate on exactly those rows and
splits (each site on its full range, the size curve's subsamples redrawn
as that script draws them), appends it to the records, and scores the
package's default rule with and without it: on inner folds of the training
rows (``combination_rules.inner_rmse``, the choice) and on all test folds
(the report). Candidates weighed:

``svr``
    Savitzky-Golay first derivative, standardised, PCA (at most 20
    components), RBF support vector regression on the standardised
    property (C = 3, epsilon = 0.1, gamma "scale"), one per property.
``ridge``
    Savitzky-Golay first derivative, standardised, ridge regression with
    its penalty chosen by generalised cross-validation (10^-3 to 10^4).
``plsr_snv``
    SNV, then the ``plsr`` candidate (first derivative, PLSRegressionCV).

    python benchmarks/candidate_additions.py --set visnir DIR --set mir DIR ... --out FILE
"""

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.decomposition import PCA
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

from _output import emit  # benchmarks/_output.py
import combination_rules as cr
from sklearn_soilspec.baselines import PLSRegressionCV
from sklearn_soilspec.datasets import load_limesoda_spectra
from sklearn_soilspec.localised import _combine
from sklearn_soilspec.localised._recipes import savgol
from sklearn_soilspec.preprocessing import SNV


class PerProperty(RegressorMixin, BaseEstimator):
    """One clone of ``estimator`` per column, fitted on the rows where it was measured."""

    def __init__(self, estimator=None):
        self.estimator = estimator

    def fit(self, X, Y):
        Y = np.asarray(Y, dtype=float).reshape(len(X), -1)
        self.models_ = []
        for j in range(Y.shape[1]):
            ok = ~np.isnan(Y[:, j])
            mu, sd = Y[ok, j].mean(), Y[ok, j].std() or 1.0
            m = clone(self.estimator).fit(np.asarray(X)[ok], (Y[ok, j] - mu) / sd)
            self.models_.append((m, mu, sd))
        return self

    def predict(self, X):
        return np.column_stack([m.predict(np.asarray(X)) * sd + mu for m, mu, sd in self.models_])


class _PCA(PCA):
    """PCA with at most as many components as the rows allow."""

    def fit_transform(self, X, y=None):
        self.n_components = min(20, X.shape[0] - 1, X.shape[1])
        return super().fit_transform(X, y)


def candidates(n_features, seed):
    return {
        "svr": Pipeline([("sg", savgol(1, n_features)), ("scale", StandardScaler()),
                         ("pca", _PCA()), ("svr", PerProperty(SVR(C=3.0, epsilon=0.1)))]),
        "ridge": Pipeline([("sg", savgol(1, n_features)), ("scale", StandardScaler()),
                           ("ridge", PerProperty(RidgeCV(alphas=np.logspace(-3, 4, 15))))]),
        "plsr_snv": Pipeline([("snv", SNV()), ("sg", savgol(1, n_features)),
                              ("pls", PLSRegressionCV(max_components=10, cv=5,
                                                      random_state=seed))]),
    }


def _rows_of(rec, fold_of, seed):
    """The training rows of a record, as localised_limesoda.py chose them."""
    train = np.flatnonzero(fold_of != rec["fold"])
    if "_n" in rec["site"]:
        n = int(rec["site"].rsplit("_n", 1)[1])
        order = np.random.default_rng([seed, rec["fold"]]).permutation(train)
        train = np.sort(order[:n])
    return train, np.flatnonzero(fold_of == rec["fold"])


def augment(records, kind, names, seed=0):
    """Append the candidates ``names`` to every record (out-of-fold and test predictions)."""
    by_site = {}
    for rec in records:
        site = rec["site"].rsplit("_n", 1)[0]
        if site not in by_site:
            by_site[site] = load_limesoda_spectra(kind, sites=[site])
        full = by_site[site]
        X = full.X.to_numpy(float)
        Y = full.Y[rec["targets"]].to_numpy(float)
        train, test = _rows_of(rec, np.asarray(full.folds), seed)
        if not np.allclose(Y[train], rec["y_train"], equal_nan=True):
            raise SystemExit(f"{rec['site']} fold {rec['fold']}: the training rows do not match "
                             "the record's (a different --seed, or other data)")
        splits = _combine.folds(len(train), 5, seed)
        for name in names:
            est = candidates(X.shape[1], seed)[name]
            oof = np.full((len(train), Y.shape[1]), np.nan)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for tr, te in splits:
                    oof[te] = clone(est).fit(X[train][tr], Y[train][tr]).predict(X[train][te])
                pred = clone(est).fit(X[train], Y[train]).predict(X[test])
            rec["names"] = rec["names"] + [name]
            rec["columns"] = rec["columns"] + [None]
            rec["oof"] = np.concatenate([rec["oof"], oof[None]])
            rec["test"] = np.concatenate([rec["test"], np.asarray(pred).reshape(1, len(test), -1)])
    return records


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--set", nargs=3, action="append", metavar=("NAME", "KIND", "DIR"),
                   required=True, help="a set of candidate records and its LimeSoDa kind")
    p.add_argument("--candidates", nargs="+", default=["svr", "ridge", "plsr_snv"])
    p.add_argument("--margin-points", type=float, default=1.0)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    default = cr.narrowed(_combine.NARROWING)
    rule = {default: lambda rec: cr.package_rule(rec, 0.3, 1.5, "equal",
                                                 narrowing=_combine.NARROWING)}
    t0, inner, test = time.time(), {}, {}
    for name, kind, d in args.set:
        base = cr.load([d])
        for variant in ["as run"] + [f"+ {c}" for c in args.candidates] + ["+ all"]:
            recs = [dict(r) for r in base]
            extra = (args.candidates if variant == "+ all"
                     else [] if variant == "as run" else [variant[2:]])
            if extra:
                recs = augment(recs, kind, extra)
            inner[(name, variant)] = cr.score(cr.inner_rmse(recs, rule))["all"][default]
            test[(name, variant)] = cr.score(cr.fold_rmse(recs, rule))["all"][default]
            print(f"{name} {variant}: inner {inner[(name, variant)]:+.1f}, test "
                  f"{test[(name, variant)]:+.1f} ({time.time() - t0:.0f} s)", flush=True)
    table = pd.DataFrame({"inner": pd.Series(inner), "test": pd.Series(test)}).unstack(0)
    table[("inner", "mean of sets")] = table["inner"].mean(axis=1)
    table[("test", "mean of sets")] = table["test"].mean(axis=1)
    gain = table[("inner", "mean of sets")]["as run"] - table[("inner", "mean of sets")]
    best = gain.drop("as run").idxmax()
    taken = best if gain[best] > args.margin_points else "as run"
    lines = ["# Candidate additions: the default rule with and without each new local candidate", "",
             "    python benchmarks/candidate_additions.py " + " ".join(
                 argv if argv is not None else sys.argv[1:]), "",
             f"Wall time {time.time() - t0:.0f} s. % change of mean RMSE against the `plsr` "
             "candidate (geometric mean over site x property cells); \"inner\": inner folds of "
             "the training rows (the choice), \"test\": all test folds (the report).", "",
             "| variant | " + " | ".join(f"{a} {b}" for a, b in table.columns) + " |",
             "|---|" + "---:|" * len(table.columns)]
    for variant, r in table.iterrows():
        lines.append(f"| {variant} | " + " | ".join(f"{v:+.1f}" for v in r) + " |")
    lines += ["", f"Largest inner gain: **{best}**, {gain[best]:.1f} points; taken (more than "
              f"{args.margin_points:g} points needed): **{taken}**."]
    emit("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
