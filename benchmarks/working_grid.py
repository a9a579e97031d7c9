"""The local candidates on 1 nm spectra: on their own step, and on the 5 nm working grid.

Four LimeSoDa vis-NIR sites are stored at 1 nm (CV.98, SC.93, SL.125,
UL.120), as an ASD writes them. ``LocalisedRegressor``'s local candidates
(``plsr``: Savitzky-Golay first derivative, window 11, and PLSRegressionCV;
``gpr`` and ``gpr_d2``: first / second derivative, windows 11 / 15, and a
Gaussian process on principal components) were designed on 5 nm data;
since this release they work on a grid no finer than 5 nm
(``_recipes.working_grid``). Here each candidate is fitted on the native
1 nm spectra (as before) and on the working grid, each site's 10 LimeSoDa
folds as test folds, nothing tuned. The change was prompted by data that
are not LimeSoDa (moist Australian samples), so these folds are evidence for
it.

    OMP_NUM_THREADS=1 python benchmarks/working_grid.py --out benchmarks/results/working_grid.md
"""

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.base import clone

from _output import emit  # benchmarks/_output.py
from sklearn_soilspec.datasets import load_limesoda_spectra
from sklearn_soilspec.localised._members import as_frame, regrid
from sklearn_soilspec.localised._recipes import local_estimators, working_grid

SITES = ("CV.98", "SC.93", "SL.125", "UL.120")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sites", nargs="+", default=list(SITES))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    t0, rows = time.time(), []
    for site in args.sites:
        lib = load_limesoda_spectra("visnir", sites=[site], grid="native")
        wl = np.asarray(lib.wavelengths, dtype=np.float64)
        grid = working_grid(wl)
        if grid is None:
            raise SystemExit(f"{site} is not finer than 5 nm; nothing to compare.")
        X1 = lib.X.to_numpy(np.float64)
        versions = {"native 1 nm": (as_frame(X1, wl), len(wl)),
                    "working grid 5 nm": (as_frame(regrid(X1, wl, grid, "the grid"), grid),
                                          len(grid))}
        Y, folds = lib.Y.to_numpy(np.float64), np.asarray(lib.folds)
        for fold in sorted(set(folds)):
            te, tr = np.flatnonzero(folds == fold), np.flatnonzero(folds != fold)
            for version, (X, n_feat) in versions.items():
                for name, est in local_estimators(n_feat, 15, args.seed).items():
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        P = clone(est).fit(X.iloc[tr], Y[tr]).predict(X.iloc[te])
                    P = np.asarray(P).reshape(len(te), -1)
                    for j, prop in enumerate(lib.Y.columns):
                        ok = ~np.isnan(Y[te, j])
                        rows.append(dict(site=site, fold=fold, version=version, candidate=name,
                                         property=prop, rmse=float(np.sqrt(np.mean(
                                             (P[ok, j] - Y[te][ok, j]) ** 2)))))
        print(f"{site}: {time.time() - t0:.0f} s", flush=True)
    df = pd.DataFrame(rows)
    cell = df.groupby(["candidate", "site", "property", "version"])["rmse"].mean().unstack()
    change = np.log(cell["working grid 5 nm"] / cell["native 1 nm"])
    by = 100 * (np.exp(change.groupby(level=["candidate", "property"]).mean()) - 1)
    lines = ["# Local candidates on 1 nm spectra: native step against the 5 nm working grid", "",
             "    python benchmarks/working_grid.py " + " ".join(
                 argv if argv is not None else sys.argv[1:]), "",
             f"Wall time {time.time() - t0:.0f} s; sites {', '.join(args.sites)}; each site's 10 "
             "folds as test folds. % change of mean test RMSE on the working grid against the "
             "native 1 nm step (geometric mean over sites; negative: the grid is better).", "",
             "| candidate | " + " | ".join(by.unstack().columns) + " | all |",
             "|---|" + "---:|" * (len(by.unstack().columns) + 1)]
    for cand, r in by.unstack().iterrows():
        allp = 100 * (np.exp(change.xs(cand, level="candidate").mean()) - 1)
        lines.append(f"| {cand} | " + " | ".join(f"{v:+.1f}" for v in r) + f" | {allp:+.1f} |")
    lines += ["", "Mean test RMSE per site and property:", "",
              "| candidate | site | property | native 1 nm | working grid 5 nm |",
              "|---|---|---|---:|---:|"]
    for (cand, site, prop), r in cell.iterrows():
        lines.append(f"| {cand} | {site} | {prop} | {r['native 1 nm']:.3f} | "
                     f"{r['working grid 5 nm']:.3f} |")
    emit("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
