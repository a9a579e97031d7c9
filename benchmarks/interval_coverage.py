"""Coverage of the localised model's 90 % intervals where the source saw the local rows.

In the study's setting (one protocol, the local domain inside the library)
the source network was trained on the local training rows, so its
out-of-fold error on them, and every source-based candidate's, is
in-sample. ``LocalisedRegressor`` therefore takes the residuals on those
rows (``source_seen_``) from the same rule over the local and library
candidates. This scores, side by side on the committed candidate records of
``localised_study_setting.py --candidates`` (or ``localised_limesoda.py
--candidates``), the package's default rule with the intervals as they are
now and with every residual the combination's own: empirical
coverage of the test rows, per property, and the mean half-width against the
test RMSE; and, as they were before the third round of the combination rules
(``seen_rows_rule.py``), the weights within 1.5x of the best candidate with
the combination's own residuals. Nothing here is chosen: the fallback was
fixed by reasoning, and this measures it.

    python benchmarks/interval_coverage.py --set nrw_study benchmarks/results/localised/rules/nrw_study_r2 \\
        --set synthetic_study benchmarks/results/localised/rules/synthetic_study_r2 \\
        --out benchmarks/results/localised/rules/interval_coverage.md
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _output import emit  # noqa: E402
from combination_rules import apply, load, narrowed, second_round_rules  # noqa: E402
from seen_rows_rule import as_shipped  # noqa: E402

from sklearn_soilspec.localised import _combine  # noqa: E402

NOW = "now: the package's rule, seen rows from the other candidates"
# (label, rule, whether the seen rows' residuals come from the other candidates)
VARIANTS = [(NOW, None, True),
            ("the package's rule, every residual the combination's own", None, False),
            ("before this round: within 1.5x of the best, every residual the combination's own",
             as_shipped, False)]


def coverage_rows(records, rule):
    rows = []
    for rec in records:
        seen = rec.get("source_seen")
        for variant, other_rule, correct in VARIANTS:
            P, halves = apply(rec, other_rule or rule, correct_seen=correct)
            for j, prop in enumerate(rec["targets"]):
                m = ~np.isnan(rec["y_test"][:, j])
                if not m.any():
                    continue
                err = np.abs(P[m, j] - rec["y_test"][m, j])
                rows.append(dict(site=rec["site"], fold=rec["fold"], property=prop,
                                 variant=variant, inside=int((err <= halves[j]).sum()),
                                 n=int(m.sum()), half=halves[j],
                                 rmse=float(np.sqrt(np.mean(err ** 2))),
                                 seen=0 if seen is None else int(seen.sum()),
                                 n_train=len(rec["y_train"])))
    return pd.DataFrame(rows)


def report(sets, argv):
    rule_name = narrowed(_combine.NARROWING)
    rule = second_round_rules()[rule_name]
    lines = ["# 90 % intervals where the source saw the local rows", "",
             f"The package's default rule ({rule_name}); empirical coverage of the test rows "
             "pooled over sites and folds, and the mean over cells of the half-width divided by "
             "the cell's test RMSE. Target: 87-93 %.", ""]
    for name, dirs in sets:
        df = coverage_rows(load(dirs), rule)
        seen = df.drop_duplicates(["site", "fold"])
        lines += [f"## {name}", "",
                  f"{len(seen)} site x fold records from {', '.join(dirs)}; local training rows "
                  f"the source saw: {seen.seen.sum()} of {seen.n_train.sum()}.", ""]
        cov = df.groupby(["variant", "property"])[["inside", "n"]].sum()
        cov = (100 * cov["inside"] / cov["n"]).unstack()
        width = (df.half / df.rmse).groupby([df.variant, df.property]).mean().unstack()
        cols = list(cov.columns)
        lines += ["| intervals | " + " | ".join(f"coverage {c}" for c in cols) + " | "
                  + " | ".join(f"half-width / RMSE {c}" for c in cols) + " |",
                  "|---|" + "---:|" * (2 * len(cols))]
        for variant, _, _ in VARIANTS:
            lines.append(f"| {variant} | " + " | ".join(f"{v:.1f} %" for v in cov.loc[variant])
                         + " | " + " | ".join(f"{v:.2f}" for v in width.loc[variant]) + " |")
        site = df[df.variant == NOW].groupby(["site", "property"])[
            ["inside", "n"]].sum()
        per_site = (100 * site["inside"] / site["n"]).unstack()
        lines += ["", "Per site, intervals now:", "", "| site | " + " | ".join(cols) + " |",
                  "|---|" + "---:|" * len(cols)]
        for s, r in per_site.iterrows():
            lines.append(f"| {s} | " + " | ".join(f"{v:.1f} %" for v in r) + " |")
        lines.append("")
    lines += ["    python benchmarks/interval_coverage.py " + " ".join(argv)]
    return "\n".join(lines) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--set", nargs="+", action="append", metavar=("NAME", "DIR"), required=True,
                   help="a named set of --candidates folders")
    p.add_argument("--out", default=None, help="write the report here (markdown)")
    args = p.parse_args(argv)
    if any(len(s) < 2 for s in args.set):
        p.error("each --set needs a NAME and at least one folder")
    emit(report([(s[0], s[1:]) for s in args.set], argv), args.out)


if __name__ == "__main__":
    main()
