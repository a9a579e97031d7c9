"""Replicate scans: what ``LocalisedRegressor`` claims and delivers with and without ``groups``.

A mechanism check, not an accuracy claim. MIR laboratories often scan each
sample three times; the scans share the sample's lab values. Each LimeSoDa
sample here is "scanned" three times: its real spectrum with a small
multiplicative scatter, offset and noise per scan (the kind of difference
repacking a cup makes), the lab values shared. Outer folds are by sample
(5 folds; every scan of a test sample is a test row). In each, one
``LocalisedRegressor`` is fitted with ``groups=sample ids`` and one without,
local candidates only (``plsr``, ``gpr``, ``gpr_d2``, ``mean``; the source
is a constant, so it cannot help either).

Reported per kind and property, pooled over sites and folds: the localised
model's out-of-fold RMSE (what it believes of itself, and what its weights
and intervals rest on), its test RMSE, and the coverage of its 90 %
intervals on the test scans.

    OMP_NUM_THREADS=1 python benchmarks/replicate_scans.py --out benchmarks/results/replicate_scans.md
"""

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.dummy import DummyRegressor
from sklearn.model_selection import GroupKFold

from _output import emit  # benchmarks/_output.py
from sklearn_soilspec.datasets import load_limesoda_spectra
from sklearn_soilspec.localised import LocalisedRegressor

SITES = {"mir": ["NRW.42", "NRW.62", "O.32"], "visnir": ["MG.44", "SSP.58", "CV.98"]}
MEMBERS = ["plsr", "gpr", "gpr_d2", "mean"]


def scans(X, n_scans, rng):
    """``n_scans`` copies of every spectrum, each with its own scatter, offset and noise."""
    sd = float(np.std(X))
    out = []
    for _ in range(n_scans):
        scale = 1 + 0.01 * rng.standard_normal((len(X), 1))
        offset = 0.01 * sd * rng.standard_normal((len(X), 1))
        out.append(X * scale + offset + 0.002 * sd * rng.standard_normal(X.shape))
    return np.vstack(out)


def run_site(kind, site, args, rows):
    lib = load_limesoda_spectra(kind, sites=[site], grid="native").as_frame()
    rng = np.random.default_rng(args.seed)
    X0, Y0 = lib.X.to_numpy(float), lib.Y
    X = pd.DataFrame(scans(X0, args.scans, rng), columns=lib.X.columns)
    Y = pd.concat([Y0] * args.scans, ignore_index=True)
    ids = np.tile(np.arange(len(X0)), args.scans)
    source = DummyRegressor().fit(X, Y)
    outer = GroupKFold(args.folds, shuffle=True, random_state=args.seed)
    for k, (tr, te) in enumerate(outer.split(X, groups=ids)):
        for cv, groups in (("by sample", ids[tr]), ("by row", None)):
            t = time.time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = LocalisedRegressor(source, members=MEMBERS, random_state=args.seed).fit(
                    X.iloc[tr], Y.iloc[tr], groups=groups)
            P = np.asarray(model.predict(X.iloc[te])).reshape(len(te), -1)
            lo, hi = (np.asarray(a).reshape(len(te), -1) for a in model.predict_interval(X.iloc[te]))
            rep = model.localisation_report_.query("candidate == 'localised'").set_index("property")
            Yte = Y.iloc[te].to_numpy(float)
            for j, prop in enumerate(model.target_names_):
                ok = ~np.isnan(Yte[:, j])
                rows.append(dict(kind=kind, site=site, fold=k, cv=cv, property=prop,
                                 oof=float(rep.loc[prop, "oof_rmse"]),
                                 sse=float(((P[ok, j] - Yte[ok, j]) ** 2).sum()),
                                 inside=int(((Yte[ok, j] >= lo[ok, j])
                                             & (Yte[ok, j] <= hi[ok, j])).sum()),
                                 n=int(ok.sum())))
            print(f"  {kind} {site} fold {k} {cv}: {time.time() - t:.0f} s", flush=True)


def report(df, argv, wall):
    g = df.groupby(["kind", "property", "cv"])
    table = pd.DataFrame({"out-of-fold RMSE (claimed)": g["oof"].mean(),
                          "test RMSE": np.sqrt(g["sse"].sum() / g["n"].sum()),
                          "90 % coverage": 100 * g["inside"].sum() / g["n"].sum()})
    table["claimed / test"] = table["out-of-fold RMSE (claimed)"] / table["test RMSE"]
    lines = ["# Replicate scans: LocalisedRegressor with and without groups", "",
             "    python benchmarks/replicate_scans.py " + " ".join(argv), "",
             f"Wall time {wall:.0f} s. Sites: " + "; ".join(
                 f"{k} {', '.join(sorted(df[df.kind == k].site.unique()))}"
                 for k in sorted(df.kind.unique())) + ". Synthetic replicates of real spectra: a "
             "mechanism check, not an accuracy claim.", "",
             "| kind | property | cross-fit | out-of-fold RMSE (claimed) | test RMSE | claimed / test "
             "| 90 % coverage |", "|---|---|---|---:|---:|---:|---:|"]
    for (kind, prop, cv), r in table.iterrows():
        lines.append(f"| {kind} | {prop} | {cv} | {r.iloc[0]:.3f} | {r.iloc[1]:.3f} | "
                     f"{r.iloc[3]:.2f} | {r.iloc[2]:.1f} % |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kind", nargs="+", choices=sorted(SITES), default=sorted(SITES))
    p.add_argument("--sites", nargs="+", default=None, help="default: three sites per kind")
    p.add_argument("--scans", type=int, default=3)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.sites and len(args.kind) > 1:
        p.error("--sites needs one --kind (the kind its sites are of)")
    t0, rows = time.time(), []
    for kind in args.kind:
        for site in args.sites or SITES[kind]:
            run_site(kind, site, args, rows)
    text = report(pd.DataFrame(rows), argv if argv is not None else sys.argv[1:], time.time() - t0)
    emit(text, args.out)


if __name__ == "__main__":
    main()
