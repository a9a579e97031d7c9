"""Choose the localised model's combination rule on some test folds, report it on the others.

``localised_limesoda.py --candidates`` writes, for every site and fold, every
candidate's out-of-fold predictions of the local training rows and its
predictions of the test rows. A combination rule turns the former into
per-property weights; applied to the latter it gives that rule's test
predictions, without fitting anything again. The rules scored here are the
package's own choice (``LocalisedRegressor._choose``, the same code that
fits): ``weighting="select"`` with other values of its complexity ``margin``
and of the ratio beyond which a candidate gets no weight, ``weighting="equal"``
(every candidate within 1.1, 1.25 or 1.5 times the best), and the best single
candidate.

Scores are those of ``localised_limesoda.py``: mean test RMSE over a site's
folds per site x property, as a ratio to local PLSR (the ``plsr``
candidate, SG first derivative, full range) on the same folds, then the
geometric mean over the cells. The rule with the lowest score on the
selection folds (``--select odd``: folds 1, 3, 5, 7, 9) is reported on the
held-out folds, so its held-out figure is free of that choice.

    python benchmarks/combination_rules.py DIR [DIR ...] --select odd
    python benchmarks/combination_rules.py --set visnir DIR_V1 DIR_V2 --set mir DIR_M

With several ``--set``, the rule is chosen on the mean of the sets'
selection-fold scores, and replaces the package default only if it is
ahead of it there by more than ``--margin-points``.
"""

import argparse
import contextlib
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from _output import emit  # benchmarks/_output.py
from sklearn_soilspec.localised import LocalisedRegressor, _combine
from sklearn_soilspec.localised._combine import conformal_quantile
from sklearn_soilspec.localised._recipes import SOURCE_BASED
from sklearn_soilspec.localised._seen import SeenRows

MARGINS = (0.0, 0.15, 0.3, 0.5, 1.0)
EXCLUDE_RATIOS = (1.25, 1.5, 2.0)


class _Stub:
    """What ``_choose`` reads of a member: the local columns it predicts."""

    def __init__(self, columns):
        self.columns = columns


def load(dirs):
    """One record per site and fold: names, predictions and targets."""
    out = []
    for d in dirs:
        for path in sorted(Path(d, "candidates").glob("*_fold*.npz")):
            site, fold = path.stem.rsplit("_fold", 1)
            z = np.load(path)
            out.append(dict(site=site, fold=int(fold), names=[str(s) for s in z["names"]],
                            targets=[str(s) for s in z["targets"]], oof=z["oof"],
                            test=z["test"], y_train=z["y_train"], y_test=z["y_test"],
                            columns=[json.loads(str(c)) for c in z["columns"]],
                            weights=z["weights"],
                            # Written since the second round; the study
                            # setting's earlier files hold local rows that
                            # are in the library without saying so.
                            n_library_overlap=(int(z["n_library_overlap"])
                                               if "n_library_overlap" in z else None),
                            source_seen=_source_seen(z),
                            # Written since the fourth round.
                            source_gap=(z["source_gap"] if "source_gap" in z
                                        and np.isfinite(z["source_gap"]).any() else None)))
    if not out:
        raise SystemExit(f"No candidates/*_fold*.npz under {list(dirs)}: run "
                         "localised_limesoda.py with --candidates first.")
    # A site (or site and size) that an interrupted run left with fewer folds
    # than the others would weigh odd and even folds unequally: left out.
    folds = {}
    for rec in out:
        folds.setdefault(rec["site"], set()).add(rec["fold"])
    full = max(len(f) for f in folds.values())
    partial = sorted(s for s, f in folds.items() if len(f) < full)
    if partial:
        print(f"left out, with fewer than {full} folds: {', '.join(partial)}", file=sys.stderr)
    return [rec for rec in out if rec["site"] not in partial]


def _source_seen(z):
    """The local training rows the source most likely saw, as the fitted model marked them.

    Records written before the mask was saved say only how many local rows
    were in the library: all of them (the study setting) or none (LimeSoDa's
    leave-one-site-out) is exact; a part cannot be placed.
    """
    n = len(z["y_train"])
    if "source_seen" in z:
        return z["source_seen"].astype(bool)
    overlap = int(z["n_library_overlap"]) if "n_library_overlap" in z else 0
    if overlap not in (0, n):
        raise SystemExit("A record says that some, not all, local rows were in the library, "
                         "but not which: rerun it to save the mask.")
    return np.full(n, overlap == n)


@contextlib.contextmanager
def _exclude_ratio(ratio, narrowing):
    old = _combine.EXCLUDE_RATIO, _combine.NARROWING
    _combine.EXCLUDE_RATIO, _combine.NARROWING = ratio, narrowing
    try:
        yield
    finally:
        _combine.EXCLUDE_RATIO, _combine.NARROWING = old


def seen_rows(rec):
    """How the package judges a record's candidates on the rows the source saw."""
    seen = rec.get("source_seen")
    seen = np.zeros(len(rec["y_train"]), dtype=bool) if seen is None else seen
    return SeenRows(seen, rec["names"])


def package_rule(rec, margin, ratio, weighting="select", narrowing=np.inf):
    """Weights (members x targets) and the clip range of ``LocalisedRegressor`` with these settings.

    ``narrowing``: with ``weighting="equal"``, the ratio to the best within
    which candidates are weighed alike is ``min(ratio, 1 + narrowing /
    sqrt(n))``; infinite (the first round's rules), it is ``ratio``.
    """
    model = LocalisedRegressor(source=None, margin=margin, weighting=weighting)
    model.target_names_ = rec["targets"]
    judge = seen_rows(rec)
    members = {n: _Stub(c) for n, c in zip(rec["names"], rec["columns"])}
    with _exclude_ratio(ratio, narrowing), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model._choose(members, rec["oof"].copy(), rec["y_train"], judge.basis())
    return model.weights_.to_numpy(), model._range


def best_single(rec):
    """The candidate with the lowest out-of-fold RMSE alone, per property (no checks, no clipping)."""
    names, P, Y = rec["names"], rec["oof"], rec["y_train"]
    W = np.zeros((len(names), Y.shape[1]))
    for j in range(Y.shape[1]):
        m = ~np.isnan(Y[:, j])
        applies = np.array([c is None or j in c for c in rec["columns"]])
        err = np.sqrt(np.mean((P[:, m, j] - Y[m, j]) ** 2, axis=1))
        err[~applies | ~np.isfinite(err)] = np.inf
        W[np.argmin(err), j] = 1.0
    return W, None


def predict(rec, W, ranges):
    T = np.nan_to_num(rec["test"])
    if ranges is not None:
        lo = np.array([ranges[j][0] for j in range(T.shape[2])])
        hi = np.array([ranges[j][1] for j in range(T.shape[2])])
        T = np.clip(T, lo, hi)
    return np.einsum("mt,mnt->nt", W, T)


def rules():
    out = {f"margin={m:g}, exclude={r:g}": (lambda rec, m=m, r=r: package_rule(rec, m, r))
           for m in MARGINS for r in EXCLUDE_RATIOS}
    for r in (1.1, 1.25, 1.5):
        # weighting="equal" of the package (its plausibility checks and
        # clipping included); 1.5 is the package's ratio.
        out[f"equal blend within {r:g}x of the best"] = (
            lambda rec, r=r: package_rule(rec, 0.3, r, "equal"))
    out["best single candidate"] = best_single
    return out


# -- the second round's rules (benchmarks/results/notes/combination_rules.md) --
# weighting="equal" with c = 1, 2, 3 is the package's own code; the
# confidence set and "auto" stand in for _combine.equal_weights inside the
# package's _choose (after its checks), so they differ from it only there.

def _confidence_set(z):
    """Equal weights on the members not significantly worse than the best (paired test of squared errors)."""
    def fn(P, y, eligible, names):
        se = (P - y) ** 2
        mse = se.mean(axis=1)
        mse[~eligible] = np.inf
        d = se - se[int(np.argmin(mse))]
        sd = d.std(axis=1, ddof=1) / np.sqrt(len(y))
        t = np.where(sd > 0, d.mean(axis=1) / np.where(sd > 0, sd, 1), 0.0)
        return _ORIGINAL_EQUAL(P, y, eligible & (t <= z), names)
    return fn


def _auto(P, y, eligible, names, k=5):
    """Per property, equal weights or the grid, whichever cross-validates better over the rows."""
    n = len(y)
    pred = {"equal": np.empty(n), "select": np.empty(n)}
    for tr, te in _combine.folds(n, k, 0):
        err = np.sqrt(np.mean((P[:, tr] - y[tr]) ** 2, axis=1))
        ok = eligible & (err <= _combine.EXCLUDE_RATIO * err[eligible].min())
        w, _, _ = _ORIGINAL_EQUAL(P[:, tr], y[tr], ok, names)
        pred["equal"][te] = w @ P[:, te]
        w, _, _ = _combine.option_grid(P[:, tr], y[tr], ok, names, len(tr), 0.3)
        pred["select"][te] = w @ P[:, te]
    r = {key: float(np.sqrt(np.mean((v - y) ** 2))) for key, v in pred.items()}
    if r["select"] < r["equal"] * (1 - 0.3 / np.sqrt(n)):
        return _combine.option_grid(P, y, eligible, names, n, 0.3)
    return _ORIGINAL_EQUAL(P, y, eligible, names)


_ORIGINAL_EQUAL = _combine.equal_weights


@contextlib.contextmanager
def _equal_replaced(fn):
    _combine.equal_weights = fn
    try:
        yield
    finally:
        _combine.equal_weights = _ORIGINAL_EQUAL


def _replaced_rule(fn):
    def rule(rec):
        with _equal_replaced(fn):
            return package_rule(rec, 0.3, 1.5, "equal")
    return rule


FIRST_ROUND = "equal blend within 1.5x of the best"


def second_round_rules():
    """The rules the second round weighs, the first round's two among them."""
    out = {FIRST_ROUND: lambda rec: package_rule(rec, 0.3, 1.5, "equal"),
           DEFAULT: lambda rec: package_rule(rec, 0.3, 1.5)}
    for c in (1, 2, 3):
        out[narrowed(c)] = lambda rec, c=c: package_rule(rec, 0.3, 1.5, "equal", narrowing=c)
    for z in (1, 2):
        out[f"equal on the confidence set, z = {z}"] = _replaced_rule(_confidence_set(z))
    out["auto: equal or the grid, by inner CV"] = _replaced_rule(_auto)
    return out


def narrowed(c):
    return f"equal within min(1.5, 1 + {c:g}/sqrt(n))x of the best"


def inner_rmse(records, table, k=5):
    """As :func:`fold_rmse`, on inner folds of the training rows: no test row is read.

    Each record's training rows are split into ``k`` shuffled folds; a rule
    sees the out-of-fold predictions of the other folds' rows and is scored
    on this fold's (pooled over the folds), against the ``plsr`` candidate's
    out-of-fold predictions of the same rows.
    """
    rows = []
    for rec in records:
        n = rec["y_train"].shape[0]
        splits = _combine.folds(n, k, 0)
        ref = rec["oof"][rec["names"].index("plsr")]
        for name, rule in table.items():
            P = np.full(rec["y_train"].shape, np.nan)
            for tr, te in splits:
                sub = dict(rec, oof=rec["oof"][:, tr], y_train=rec["y_train"][tr],
                           test=rec["oof"][:, te])
                W, ranges = rule(sub)
                P[te] = predict(sub, W, ranges)
            for j, prop in enumerate(rec["targets"]):
                m = ~np.isnan(rec["y_train"][:, j])
                y = rec["y_train"][m, j]
                rows.append(dict(site=rec["site"], fold=rec["fold"], property=prop, rule=name,
                                 rmse=float(np.sqrt(np.mean((P[m, j] - y) ** 2))),
                                 ref=float(np.sqrt(np.mean((ref[m, j] - y) ** 2)))))
    return pd.DataFrame(rows)


def apply(rec, rule, correct_seen=True):
    """A rule's test predictions of one record and the half-widths of its 90 % intervals.

    ``correct_seen=False``: the intervals as before the source's seen rows
    were set apart (every residual the combination's own).
    """
    W, ranges = rule(rec)
    P = predict(rec, W, ranges)
    # The 90 % interval as the model makes it: split-conformal on the
    # out-of-fold residuals of the combined prediction; on rows the source
    # saw, of the same rule over the candidates not built on it.
    oof = np.einsum("mt,mnt->nt", W, np.nan_to_num(rec["oof"]))
    seen = rec.get("source_seen")
    based = [i for i, n in enumerate(rec["names"]) if n in SOURCE_BASED]
    keep = [i for i, n in enumerate(rec["names"]) if n not in SOURCE_BASED]
    if correct_seen and seen is not None and seen.any() and keep and (W[based] > 0).any():
        sub = dict(rec, names=[rec["names"][i] for i in keep],
                   columns=[rec["columns"][i] for i in keep], oof=rec["oof"][keep],
                   test=rec["test"][keep])
        W_other, _ = rule(sub)
        other = np.einsum("mt,mnt->nt", W_other, np.nan_to_num(sub["oof"]))
        oof = np.where(seen[:, None], other, oof)
    half = []
    for j in range(P.shape[1]):
        seen = ~np.isnan(rec["y_train"][:, j])
        half.append(conformal_quantile(rec["y_train"][seen, j] - oof[seen, j], 0.1))
    return P, np.array(half)


def fold_rmse(records, table):
    """Long table: site, fold, property, rule, test RMSE (and of the reference ``plsr``)."""
    rows = []
    for rec in records:
        ref = rec["test"][rec["names"].index("plsr")]
        for name, rule in table.items():
            P, halves = apply(rec, rule)
            for j, prop in enumerate(rec["targets"]):
                m = ~np.isnan(rec["y_test"][:, j])
                if not m.any():
                    continue
                y = rec["y_test"][m, j]
                half = halves[j]
                rows.append(dict(site=rec["site"], fold=rec["fold"], property=prop, rule=name,
                                 rmse=float(np.sqrt(np.mean((P[m, j] - y) ** 2))),
                                 ref=float(np.sqrt(np.mean((ref[m, j] - y) ** 2))),
                                 inside=int((np.abs(P[m, j] - y) <= half).sum()),
                                 n=int(m.sum())))
    return pd.DataFrame(rows)


def score(df):
    """% change of mean RMSE vs the ``plsr`` candidate, geometric mean over cells: all and per property."""
    cells = df.groupby(["rule", "site", "property"])[["rmse", "ref"]].mean()
    cells["log"] = np.log(cells["rmse"] / cells["ref"])
    by_prop = cells.groupby(["rule", "property"])["log"].mean().unstack()
    out = pd.DataFrame({"all": cells.groupby("rule")["log"].mean(),
                        "worst cell": cells.groupby("rule")["log"].max()})
    out = pd.concat([out, by_prop], axis=1)
    return 100 * (np.exp(out) - 1)


def _check_default(df, dirs):
    """How far the package default here is from the localised model's own test RMSE."""
    runs = [pd.read_csv(f) for d in dirs for f in Path(d).glob("localised_limesoda_*_folds.csv")]
    if not runs:
        return "(no folds CSV beside the candidates: the default was not checked against it)"
    own = pd.concat(runs)
    own = own[own["model"] == "localised"].set_index(["site", "fold", "property"])["rmse"]
    here = df[df["rule"] == DEFAULT].set_index(
        ["site", "fold", "property"])["rmse"]
    both = pd.concat([own.rename("own"), here.rename("here")], axis=1, join="inner")
    gap = float((both["here"] / both["own"] - 1).abs().max()) if len(both) else float("nan")
    return (f"The runs' own rule ({DEFAULT}, the package default when they ran) scored here "
            f"against the fitted "
            f"model's own test RMSE in {len(both)} site x fold x property cells: largest "
            f"relative difference {gap:.1e}.")


# The rule the benchmark runs fitted with (weighting="select", the package
# default before weighting="equal" was chosen by this script).
DEFAULT = "margin=0.3, exclude=1.5"


def set_table(df, select):
    """Scores of every rule on one set: on the selection folds, held out, all folds."""
    odd = df["fold"] % 2 == 1
    sel, held = (odd, ~odd) if select == "odd" else (~odd, odd)
    s_sel, s_held, s_all = score(df[sel]), score(df[held]), score(df)
    return pd.concat({"chosen on": s_sel["all"], "held-out": s_held["all"],
                      "held-out worst cell": s_held["worst cell"],
                      **{f"held-out {c}": s_held[c] for c in s_held.columns
                         if c not in ("all", "worst cell")},
                      "all folds": s_all["all"]}, axis=1)


def markdown(table):
    lines = ["| rule | " + " | ".join(table.columns) + " |",
             "|---|" + "---:|" * len(table.columns)]
    for rule, r in table.iterrows():
        lines.append(f"| {rule} | " + " | ".join(f"{v:+.1f}" for v in r) + " |")
    return lines


def against_baselines(df, dirs, rules_shown):
    """Lines: the rules against the baselines the runs fitted beside the localised model.

    A size-curve set is scored against ``plsr_tuned_full`` (% change of mean
    RMSE, geometric mean over cells, per size); a study-setting set by its
    target, cells where the localised model is at most the better of
    ``source`` and ``plain_transfer`` (and within 3 % of ``source`` where that
    is the better one). All folds.
    """
    lines = []
    for d in dirs:
        sizes = list(Path(d).glob("localised_limesoda_*_sizes.csv"))
        study = list(Path(d).glob("study_setting_*.csv"))
        for rule in rules_shown:
            part = df[df["rule"] == rule]
            if sizes:
                ref = pd.read_csv(sizes[0])
                ref = ref[ref["model"] == "plsr_tuned_full"].groupby(
                    ["site", "size", "property"])["rmse"].mean()
                part = part.assign(size=part["site"].str.extract(r"_n(\d+)$")[0].astype(int),
                                   site=part["site"].str.replace(r"_n\d+$", "", regex=True))
                cell = part.groupby(["site", "size", "property"])["rmse"].mean()
                pct = 100 * (np.exp(np.log(cell / ref.reindex(cell.index)).groupby(
                    level="size").mean()) - 1)
                lines.append(f"- {rule}, against `plsr_tuned_full`: " + ", ".join(
                    f"n = {n} {v:+.1f} %" for n, v in pct.items()) + ".")
            if study:
                ref = pd.read_csv(study[0]).groupby(["domain", "property", "model"])[
                    "rmse"].mean().unstack()
                cell = part.groupby(["site", "property"])["rmse"].mean()
                cell.index.names = ["domain", "property"]
                ref = ref.reindex(cell.index)
                best = ref[["source", "plain_transfer"]].min(axis=1)
                src_best = ref["source"] <= ref["plain_transfer"]
                lines.append(
                    f"- {rule}: at most the better of `source` and `plain_transfer` in "
                    f"{int((cell <= best).sum())} of {len(cell)} cells; within 3 % of `source` "
                    f"where it is the better in {int((cell[src_best] <= 1.03 * ref['source'][src_best]).sum())}"
                    f" of {int(src_best.sum())}; against `source` "
                    f"{100 * (np.exp(np.log(cell / ref['source']).mean()) - 1):+.1f} %.")
    return lines


def main_tables(records, rule, name, dirs, anchors=None):
    """Lines: ``localised_limesoda.py``'s headline figures with ``rule`` as the localised model.

    The baselines are the runs' own (their folds CSV); the localised model's
    test RMSE per fold, pooled R2 and interval coverage are the rule's, from
    the candidates. Empty for a folder without a folds CSV (size curves, the
    study setting).
    """
    runs = [pd.read_csv(f) for d in dirs for f in Path(d).glob("localised_limesoda_*_folds.csv")]
    if not runs:
        return []
    import localised_limesoda as ll  # the benchmark's own summaries

    base = pd.concat(runs)
    base = base[base["model"] != "localised"]
    rows, pooled = [], {}
    for rec in records:
        P, half = apply(rec, rule)
        for j, prop in enumerate(rec["targets"]):
            m = ~np.isnan(rec["y_test"][:, j])
            if not m.any():
                continue
            y, p = rec["y_test"][m, j], P[m, j]
            rows.append(dict(site=rec["site"], fold=rec["fold"], property=prop,
                             model="localised", rmse=float(np.sqrt(np.mean((p - y) ** 2)))))
            acc = pooled.setdefault((rec["site"], prop), [[], [], 0])
            acc[0].append(y)
            acc[1].append(p)
            acc[2] += int((np.abs(p - y) <= half[j]).sum())
    df = pd.concat([base, pd.DataFrame(rows)])
    cell = df.groupby(["site", "property", "model"])["rmse"].mean().unstack("model")
    cell = cell[[m for m in ll.MODELS if m in cell.columns]]
    ref = np.log(cell["localised"] / cell[ll.REFERENCE])
    vs_ref = 100 * (np.exp(ref.groupby(level="property").mean()) - 1)
    by_prop = np.log(cell["localised"].to_numpy()[:, None] / cell).groupby(
        level="property").mean()
    baselines = [m for m in cell.columns if m != "localised"]
    best_prop = {prop: r[baselines].idxmin() for prop, r in cell.groupby(
        level="property").mean().iterrows()}
    ratio, vs_best, _ = ll._against_best_baseline(cell)
    r2 = []
    for (site, prop), (ys, ps, inside) in pooled.items():
        y, p = np.concatenate(ys), np.concatenate(ps)
        r2.append(dict(site=site, property=prop, model="localised", n=len(y), inside=inside,
                       r2=1 - ((p - y) ** 2).sum() / ((y - y.mean()) ** 2).sum()))
    r2 = pd.DataFrame(r2)
    cov = r2.groupby("property")[["inside", "n"]].sum()
    lines = [f"- {name}: against `{ll.REFERENCE}` " + ", ".join(
        f"{prop} {v:+.1f} %" for prop, v in vs_ref.items())
        + f", all {100 * (np.exp(ref.mean()) - 1):+.1f} %.",
        "- against the best baseline of each property: " + ", ".join(
            f"{prop} {100 * (np.exp(by_prop.loc[prop, b]) - 1):+.1f} % (`{b}`)"
            for prop, b in best_prop.items()) + ".",
        "- against the best baseline of each cell (hindsight): " + ", ".join(
            f"{prop} {v:+.1f} %" for prop, v in vs_best.items())
        + f"; cells more than 3 % worse: {int((ratio > 1.03).sum())} of {len(ratio)}.",
        "- 90 % interval coverage, pooled over sites: " + ", ".join(
            f"{prop} {100 * r.inside / r.n:.1f} %" for prop, r in cov.iterrows()) + "."]
    if anchors:
        lines.append("- anchors: " + ll._anchor_lines(r2, anchors)[0])
    return lines


def inner_report(sets, argv, margin_points, anchors, overlap=True):
    """The second round: every rule chosen on inner folds, all of them reported on all test folds.

    ``overlap=False`` scores the rules as the protocol fixed them, before the
    package kept the widest ratio where the local rows are in the library:
    the records' library overlap is then ignored.
    """
    table = second_round_rules()
    lines = ["# Combination rules of the localised model, second round: chosen on inner folds", "",
             "% change of RMSE against local PLSR (the `plsr` candidate), geometric mean over "
             "site x property cells; negative is better. \"inner\": 5 folds over each record's "
             "training rows, the rule set on 4/5 of their out-of-fold predictions and scored on "
             "the rest (no test row is read); \"test\": all 10 test folds, which this round "
             "does not use to choose.", ""]
    inner, test, records_of = {}, {}, {}
    for name, dirs in sets:
        records = records_of[name] = load(dirs)
        if not overlap:
            for rec in records:
                rec["n_library_overlap"] = None
        di, dt = inner_rmse(records, table), fold_rmse(records, table)
        si, st = score(di), score(dt)
        inner[name], test[name] = si["all"], st["all"]
        t = pd.concat({"inner": si["all"], "inner worst cell": si["worst cell"],
                       "test": st["all"], "test worst cell": st["worst cell"],
                       **{f"test {c}": st[c] for c in st.columns
                          if c not in ("all", "worst cell")}}, axis=1).sort_values("inner")
        lines += [f"## {name}", "", f"{len(records)} site x fold records from "
                  f"{', '.join(dirs)}.", "", *markdown(t), ""]
    summary = pd.concat({"inner (mean of sets)": pd.DataFrame(inner).mean(axis=1),
                         "test (mean of sets)": pd.DataFrame(test).mean(axis=1),
                         **{f"test {k}": v for k, v in test.items()}},
                        axis=1).sort_values("inner (mean of sets)")
    best = summary.index[0]
    gain = (summary.loc[FIRST_ROUND, "inner (mean of sets)"]
            - summary.loc[best, "inner (mean of sets)"])
    winner = best if gain > margin_points else FIRST_ROUND
    lines += ["## Over the sets", "", *markdown(summary), "",
              f"Best on the inner folds: **{best}**, {gain:.1f} points ahead of the first "
              f"round's rule ({FIRST_ROUND}); the rule taken (that one unless a rule is more "
              f"than {margin_points:g} points ahead): **{winner}**, on all test folds "
              f"{summary.loc[winner, 'test (mean of sets)']:+.1f} % "
              f"({summary.loc[FIRST_ROUND, 'test (mean of sets)']:+.1f} % for the first "
              f"round's rule, {summary.loc[DEFAULT, 'test (mean of sets)']:+.1f} % for the "
              f"runs' rule).", ""]
    lines += ["## Against the baselines of the runs (all folds)", ""]
    for name, dirs in sets:
        recs = records_of[name]
        # The rule taken, the package's default (the narrowing of _combine),
        # the first round's and the runs' rule.
        for rule in dict.fromkeys([winner, narrowed(_combine.NARROWING), FIRST_ROUND, DEFAULT]):
            extra = main_tables(recs, table[rule], rule, dirs, anchors)
            if not extra:
                df = fold_rmse(recs, {rule: table[rule]})
                extra = against_baselines(df, dirs, [rule])
            lines += [f"{name}:" if rule == winner else "", *extra]
        lines.append("")
    lines += ["    python benchmarks/combination_rules.py " + " ".join(argv)]
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dirs", nargs="*", help="--out folders of localised_limesoda.py "
                   "--candidates, scored as one set")
    p.add_argument("--set", nargs="+", action="append", metavar=("NAME", "DIR"), default=[],
                   help="a named set of folders; with several sets the rule is chosen on the "
                        "mean of their selection-fold scores")
    p.add_argument("--select", choices=("odd", "even"), default="odd",
                   help="folds the rule is chosen on; it is reported on the others")
    p.add_argument("--margin-points", type=float, default=1.0,
                   help="the default is replaced only by a rule better by more than this many "
                        "points of the selection score")
    p.add_argument("--out", default=None, help="write the report here (markdown)")
    p.add_argument("--inner", action="store_true",
                   help="the second round: choose on inner folds of the training rows, report "
                        "every rule on all test folds")
    p.add_argument("--anchors", default=None,
                   help="with --inner, the LimeSoDa authors' benchmark CSV, for the main sets")
    p.add_argument("--ignore-overlap", action="store_true",
                   help="with --inner, score the rules as the protocol fixed them: without the "
                        "widest ratio where the local rows are in the library")
    args = p.parse_args(argv)
    sets = [(s[0], s[1:]) for s in args.set] + ([("all", args.dirs)] if args.dirs else [])
    if not sets or any(not dirs for _, dirs in sets):
        p.error("give folders, or --set NAME DIR [DIR ...] (each with at least one folder)")
    if args.inner:
        text = inner_report(sets, argv if argv is not None else sys.argv[1:],
                            args.margin_points, args.anchors, overlap=not args.ignore_overlap)
        emit(text, args.out)
        return
    lines = [f"# Combination rules of the localised model, chosen on the {args.select} folds",
             "", "% change of mean RMSE against local PLSR (the `plsr` candidate), geometric "
             "mean over site x property cells; negative is better. \"chosen on\": the "
             f"{args.select} folds; \"held-out\": the others.", ""]
    chosen, held, coverage = {}, {}, {}
    for name, dirs in sets:
        records = load(dirs)
        df = fold_rmse(records, rules())
        table = set_table(df, args.select).sort_values("chosen on")
        chosen[name], held[name] = table["chosen on"], table["held-out"]
        cov = df.groupby(["rule", "property"])[["inside", "n"]].sum()
        coverage[name] = 100 * (cov["inside"] / cov["n"]).unstack()
        lines += [f"## {name}", "", f"{len(records)} site x fold records from "
                  f"{', '.join(dirs)}; sites {', '.join(sorted({r['site'] for r in records}))}.",
                  "", *markdown(table), "", _check_default(df, dirs), ""]
        extra = against_baselines(df, dirs, ["equal blend within 1.5x of the best", DEFAULT])
        if extra:
            lines += ["Against the baselines of the runs (all folds):", "", *extra, ""]
    summary = pd.concat({"chosen on (mean of sets)": pd.DataFrame(chosen).mean(axis=1),
                         "held-out (mean of sets)": pd.DataFrame(held).mean(axis=1),
                         **{f"held-out {k}": v for k, v in held.items()}},
                        axis=1).sort_values("chosen on (mean of sets)")
    best = summary.index[0]
    gain = summary.loc[DEFAULT, "chosen on (mean of sets)"] - summary.loc[best,
                                                                            "chosen on (mean of sets)"]
    winner = best if gain > args.margin_points else DEFAULT
    lines += ["## Over the sets", "", *markdown(summary), "",
              f"Best on the {args.select} folds: **{best}**, {gain:.1f} points ahead of the "
              f"runs' rule ({DEFAULT}); the rule taken (that one unless a rule is more than "
              f"{args.margin_points:g} points ahead): **{winner}**, held-out "
              f"{summary.loc[winner, 'held-out (mean of sets)']:+.1f} % ("
              f"{summary.loc[DEFAULT, 'held-out (mean of sets)']:+.1f} % for the runs' rule).", "",
              "Empirical coverage of the 90 % interval (all folds), per property, of the rule "
              "taken and of the runs' rule:", "",
              "| set | rule | " + " | ".join(next(iter(coverage.values())).columns) + " |",
              "|---|---|" + "---:|" * len(next(iter(coverage.values())).columns)]
    for name, cov in coverage.items():
        for rule in dict.fromkeys([winner, DEFAULT]):
            lines.append(f"| {name} | {rule} | " + " | ".join(
                f"{v:.1f} %" for v in cov.loc[rule]) + " |")
    lines += ["", "    python benchmarks/combination_rules.py " + " ".join(
                  (argv if argv is not None else sys.argv[1:]))]
    emit("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
