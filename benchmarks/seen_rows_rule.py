"""Weighing where the source saw the local rows: the third to fifth rounds of the combination rules.

Protocol (written before the figures): ``results/notes/combination_rules.md``,
"Third round". Where the source was trained on the local rows, every
source-based candidate's out-of-fold error is in-sample. Five rules are
scored on the committed candidate records of ``localised_study_setting.py
--candidates``, with the package's own weighing: (a) equal weights within
1.5x of the best candidate (the rule before this round), (b) within 1.5x of the best
candidate not built on the source, (c) the source-based candidates left out,
(d) the usual narrowing ratio from the best candidate not built on the
source, (e) (d) where a library candidate is among those, else (a): the
package's rule. (d) and (e) were added after (a)-(c) had been seen on these
sets (``results/notes/combination_rules.md``). The fourth round adds (f): the
source-based candidates' residuals on the seen rows multiplied by the source
network's own generalisation gap (its validation over training RMSE,
recorded when it was trained; in records written since), then the usual rule
from the best of all, and (g): (e) where a library candidate is among the
others, else (f). The fifth adds (h): (e) where a library candidate is among
the others, else the source's residuals scaled by its gap and its
recalibration and fine-tuning left out. (g) and (h) were rejected (the
outcomes in the notes). Every set is scored with its library candidates and
without them, as if no library had been given. Per set: % change of the
geometric mean RMSE against the ``plsr`` candidate, the cells at or below the
better of the global model and the plain transfer (the study's target) and
the 90 % interval coverage; then the source's recorded gap against its true
one, and every candidate's test over out-of-fold RMSE (also, with
``--ratios``, for records where the source saw no local row).

    R=benchmarks/results/localised/rules
    python benchmarks/seen_rows_rule.py --set synthetic_study $R/synthetic_study_r4 \\
        --set nrw_study $R/nrw_study_r4 --set synthetic_study_seed1 $R/synthetic_study_seed1_r5 \\
        --set visnir_study $R/visnir_study_r5 --ratios visnir $R/visnir --ratios mir $R/mir \\
        --out $R/seen_rows_rule.md
"""

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _output import emit  # noqa: E402
import combination_rules as cr  # noqa: E402
from combination_rules import _Stub, load, score  # noqa: E402

from sklearn_soilspec.localised import _combine  # noqa: E402
from sklearn_soilspec.localised._recipes import LIBRARY_BASED, SOURCE_BASED  # noqa: E402


def _weigh(rec, reference, widest=True):
    members = {n: _Stub(c) for n, c in zip(rec["names"], rec["columns"])}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        W, ranges, _, _ = _combine.weigh(members, rec["oof"].copy(), rec["y_train"],
                                         rec["targets"], "equal", 0.3, widest=widest,
                                         reference=reference)
    return W, ranges


def as_shipped(rec):
    return _weigh(rec, None)


def honest_reference(rec):
    return _weigh(rec, [n for n in rec["names"] if n not in SOURCE_BASED])


def honest_narrowing(rec):
    return _weigh(rec, [n for n in rec["names"] if n not in SOURCE_BASED], widest=False)


def library_reference(rec):
    others = [n for n in rec["names"] if n not in SOURCE_BASED]
    if any(n in LIBRARY_BASED for n in others):
        return honest_narrowing(rec)
    return as_shipped(rec)


def honest_only(rec):
    keep = [i for i, n in enumerate(rec["names"]) if n not in SOURCE_BASED]
    sub = dict(rec, names=[rec["names"][i] for i in keep],
               columns=[rec["columns"][i] for i in keep], oof=rec["oof"][keep])
    W_sub, ranges = _weigh(sub, None)
    W = np.zeros((len(rec["names"]), W_sub.shape[1]))
    W[keep] = W_sub
    return W, ranges


def _gap_scaled(rec):
    """The record with the source-based residuals on the seen rows scaled by the source's gap.

    The scaled residuals stand for honest ones, in the weighing and in the
    intervals (so no seen rows are left to set apart).
    """
    seen, gap = rec["source_seen"], rec.get("source_gap")
    P = rec["oof"].copy()
    if gap is not None and seen.any():
        g, y = np.where(np.isfinite(gap), gap, 1.0), rec["y_train"][seen]
        for i, name in enumerate(rec["names"]):
            if name in SOURCE_BASED:
                p = P[i, seen]
                P[i, seen] = np.where(np.isnan(y), p, y + g * (p - y))
    return dict(rec, oof=P, source_seen=np.zeros(len(rec["y_train"]), dtype=bool),
                source_gap=None)


def _judged(rec):
    return any(n in LIBRARY_BASED for n in rec["names"])


def gap_scaled(rec):
    return _weigh(rec, None, widest=False)


def gap_or_library(rec):
    return library_reference(rec) if _judged(rec) else gap_scaled(rec)


def _same(rec):
    return rec


# The source-based candidates whose out-of-fold error the source's memory
# flatters beyond its own gap (the fourth round's ratios).
FLATTERED = ("source_corrected", "fine_tuned")


def _flattered_out(rec):
    """(h): the source's residuals on the seen rows scaled by its gap, the flattered candidates out."""
    if _judged(rec) or not rec["source_seen"].any() or rec.get("source_gap") is None:
        return rec
    scaled = _gap_scaled(rec)
    keep = [i for i, n in enumerate(rec["names"]) if n not in FLATTERED]
    return dict(scaled, names=[rec["names"][i] for i in keep],
                columns=[rec["columns"][i] for i in keep], oof=scaled["oof"][keep],
                test=rec["test"][keep])


def flattered_out(rec):
    if _judged(rec):
        return library_reference(rec)
    if rec["source_seen"].any():  # seen rows and no gap recorded: as (a)
        return as_shipped(rec)
    return _weigh(rec, None, widest=False)


# name -> (rule, the record as the rule sees it).
RULES = {"(a) within 1.5x of the best (before the third round)": (as_shipped, _same),
         "(b) within 1.5x of the best not built on the source": (honest_reference, _same),
         "(c) the source-based candidates left out": (honest_only, _same),
         "(d) within min(1.5, 1 + 2/sqrt(n))x of the best not built on the source":
             (honest_narrowing, _same),
         "(e) (d) where a library candidate is among those, else (a) (the package)":
             (library_reference, _same),
         "(f) in-sample residuals times the source's own gap, then the usual rule":
             (gap_scaled, _gap_scaled),
         "(g) (e) where a library candidate is among those, else (f) (rejected)":
             (gap_or_library, lambda rec: rec if _judged(rec) else _gap_scaled(rec)),
         "(h) (e) where a library candidate is among those, else the source scaled by its "
         "gap and its recalibration and fine-tuning left out (rejected)":
             (flattered_out, _flattered_out)}


def fold_rmse(records, table):
    return pd.concat([cr.fold_rmse([seen(r) for r in records], {name: rule})
                      for name, (rule, seen) in table.items()], ignore_index=True)


def without_library(rec):
    """The record as if no library had been given: the library candidates dropped."""
    keep = [i for i, n in enumerate(rec["names"]) if n not in LIBRARY_BASED]
    return dict(rec, names=[rec["names"][i] for i in keep],
                columns=[rec["columns"][i] for i in keep], oof=rec["oof"][keep],
                test=rec["test"][keep])


def baselines(dirs):
    runs = [pd.read_csv(f) for d in dirs for f in Path(d).glob("study_setting_*.csv")]
    if not runs:
        raise SystemExit(f"No study_setting_*.csv in {list(dirs)}: these are not study-setting runs.")
    df = pd.concat(runs)
    return df.groupby(["domain", "property", "model"])["rmse"].mean().unstack("model")


def gap_check(recs):
    """How well the source's recorded gap foretells its test error from its in-sample error.

    Per property, the geometric mean over records of the recorded gap and of
    the true ratio: the source's RMSE on the local test rows over its
    (in-sample) out-of-fold RMSE on the local training rows it saw.
    """
    recs = [r for r in recs if r.get("source_gap") is not None and "source" in r["names"]]
    if not recs:
        return []
    out = {}
    for rec in recs:
        i = rec["names"].index("source")
        for j, prop in enumerate(rec["targets"]):
            tr, te = ~np.isnan(rec["y_train"][:, j]), ~np.isnan(rec["y_test"][:, j])
            seen = rec["source_seen"][tr]
            if not (te.any() and seen.all() and np.isfinite(rec["source_gap"][j])):
                continue
            fit = np.sqrt(np.mean((rec["oof"][i, tr, j] - rec["y_train"][tr, j]) ** 2))
            test = np.sqrt(np.mean((rec["test"][i, te, j] - rec["y_test"][te, j]) ** 2))
            out.setdefault(prop, []).append((rec["source_gap"][j], test / fit))
    lines = ["The source's recorded gap against its true one (its test RMSE over its in-sample "
             "RMSE on the local training rows), geometric means over the records:", "",
             "| property | recorded gap | true ratio | records |", "|---|---:|---:|---:|"]
    for prop, pairs in out.items():
        g, t = np.exp(np.log(np.array(pairs)).mean(axis=0))
        lines.append(f"| {prop} | {g:.2f} | {t:.2f} | {len(pairs)} |")
    return lines + [""] + oof_ratios(recs)


def oof_ratios(recs):
    """Every candidate's test RMSE over its out-of-fold RMSE: where the optimism lies.

    A local candidate's is below 1: its final model has all the local rows,
    its fold models fewer.
    """
    ratios = {}
    for rec in recs:
        for i, name in enumerate(rec["names"]):
            for j in range(len(rec["targets"])):
                tr, te = ~np.isnan(rec["y_train"][:, j]), ~np.isnan(rec["y_test"][:, j])
                fit = np.sqrt(np.mean((rec["oof"][i, tr, j] - rec["y_train"][tr, j]) ** 2))
                test = np.sqrt(np.mean((rec["test"][i, te, j] - rec["y_test"][te, j]) ** 2))
                if te.any() and np.isfinite(fit) and fit > 0 and np.isfinite(test):
                    ratios.setdefault(name, []).append(np.log(test / fit))
    names = list(ratios)
    return ["Every candidate's test RMSE over its out-of-fold RMSE (geometric mean over "
            "records and properties):", "", "| " + " | ".join(names) + " |",
            "|" + "---:|" * len(names),
            "| " + " | ".join(f"{np.exp(np.mean(ratios[n])):.2f}" for n in names) + " |", ""]


def report(sets, argv, ratio_sets=None):
    lines = ["# Weighing where the source saw the local rows (third to fifth rounds)", "",
             "% change of mean RMSE against the `plsr` candidate (geometric mean over cells; "
             "negative is better); cells at or below min(global model, plain transfer) of the "
             "runs; pooled 90 % interval coverage.", ""]
    for (name, dirs), library in ((s, lib) for s in sets for lib in (True, False)):
        recs = load(dirs) if library else [without_library(r) for r in load(dirs)]
        name = name if library else f"{name}, without the library candidates"
        df = fold_rmse(recs, RULES)
        base = baselines(dirs)
        cell = df.groupby(["rule", "site", "property"])["rmse"].mean()
        target = base[["source", "plain_transfer"]].min(axis=1)
        sc = score(df)
        cov = df.groupby(["rule", "property"])[["inside", "n"]].sum()
        cov = (100 * cov["inside"] / cov["n"]).unstack()
        props = list(cov.columns)
        lines += [f"## {name}", "", f"{len(recs)} site x fold records from {', '.join(dirs)}.",
                  "", "| rule | all | " + " | ".join(props) + " | <= min(global, plain) | "
                  + " | ".join(f"coverage {p}" for p in props) + " |",
                  "|---|" + "---:|" * (2 * len(props) + 2)]
        for rule in RULES:
            mine = cell.loc[rule]
            ok = int((mine.values <= target.reindex(mine.index).values).sum())
            lines.append(f"| {rule} | {sc.loc[rule, 'all']:+.1f} | "
                         + " | ".join(f"{sc.loc[rule, p]:+.1f}" for p in props)
                         + f" | {ok} of {len(mine)} | "
                         + " | ".join(f"{v:.1f} %" for v in cov.loc[rule]) + " |")
        lines += ["", "Mean test RMSE per cell:", "",
                  "| site | property | global | plain transfer | plsr_tuned | "
                  + " | ".join(r.split(")")[0] + ")" for r in RULES) + " |",
                  "|---|---|" + "---:|" * (3 + len(RULES))]
        for (site, prop), r in base.iterrows():
            lines.append(f"| {site} | {prop} | {r['source']:.3f} | {r['plain_transfer']:.3f} | "
                         f"{r['plsr_tuned']:.3f} | "
                         + " | ".join(f"{cell.loc[(rule, site, prop)]:.3f}" for rule in RULES)
                         + " |")
        lines.append("")
        if library:
            lines += gap_check(recs)
    for name, dirs in ratio_sets or ():
        recs = load(dirs)
        lines += [f"## {name}: where the source saw no local row", "",
                  f"{len(recs)} site x fold records from {', '.join(dirs)}.", ""] + oof_ratios(recs)
    lines += ["    python benchmarks/seen_rows_rule.py " + " ".join(argv)]
    return "\n".join(lines) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--set", nargs="+", action="append", metavar=("NAME", "DIR"), required=True)
    p.add_argument("--ratios", nargs="+", action="append", metavar=("NAME", "DIR"),
                   help="candidate records of any run: only their test over out-of-fold RMSE")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    emit(report([(s[0], s[1:]) for s in args.set], argv,
                [(s[0], s[1:]) for s in args.ratios or ()]), args.out)


if __name__ == "__main__":
    main()
