"""The ``soilspec`` command: the localisation experiment and model files.

Thin on purpose: every subcommand parses its arguments and calls the public
API (:mod:`sklearn_soilspec.datasets`, :mod:`sklearn_soilspec.experiments`,
:mod:`sklearn_soilspec.transfer`), so anything the command does can be done
from Python in the same way.

Bad arguments, files or data end in a one-line message on stderr and exit
status 2; no traceback. Nothing is lost: outputs are checked before any data
are read (never one of the inputs, never an existing file without
``--overwrite``), every file is written to a temporary file that replaces the
target only when complete, and Ctrl-C writes nothing (exit status 130).
"""

import argparse
import sys
import warnings

from ._cli_checks import UsageError as _UsageError
from ._cli_checks import check_device, load_model_file
from ._cli_data import DATA_KINDS, csv_options, load_library, read_spectra, spectra_for

__all__ = ["main"]

# Three LimeSoDa vis-NIR sites of different sizes, instruments and soils;
# with the other five as the global library a fast run takes minutes on a CPU.
DEFAULT_LIMESODA_DOMAINS = {
    "limesoda-visnir": ("CV.98", "SC.93", "UL.120"),
    "limesoda-mir": ("H.138", "NRW.115"),
}
# The study's comparison (its plain transfer recipe the reference) plus a local
# Gaussian process and the package's localised model, so that the main job
# shows the plain recipe and what the package makes of it.
DEFAULT_MODELS = ("plsr_local", "plsr_global", "plsr_spiked", "mbl", "gpr_local", "cnn_local",
                  "cnn_global", "cnn_transfer", "localised")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse prints the whole usage block; the command promises one line.
        raise _UsageError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def main(argv=None):
    """Run ``soilspec`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        return _fail(exc)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    if args.command is None:
        return _fail(_UsageError(
            "choose a command: localise, train-global, fine-tune or predict "
            "(see `soilspec --help`)"))
    try:
        with warnings.catch_warnings():
            # A warning about the user's data is part of the output: one line each.
            warnings.showwarning = _show_warning
            check_device(getattr(args, "device", "cpu"))
            return args.run(args) or 0
    except (ValueError, TypeError, KeyError, OSError, ImportError, _UsageError) as exc:
        return _fail(exc)
    except KeyboardInterrupt:
        # Files are written atomically and only at the end: nothing half-done.
        print("soilspec: interrupted: nothing was written", file=sys.stderr)
        return 130


def _show_warning(message, category, filename, lineno, file=None, line=None):
    # Deprecations speak to Python code calling the package, which the user of
    # the command cannot change; everything else (about the data) is shown.
    if issubclass(category, (DeprecationWarning, FutureWarning)):
        return
    print(f"soilspec: warning: {str(message).replace(chr(10), ' ')}", file=sys.stderr)


def _fail(exc):
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    if isinstance(exc, FileNotFoundError) and exc.filename and exc.filename not in text:
        text = f"{text}: {exc.filename}"
    notes = getattr(exc, "__notes__", [])
    line = " ".join([str(text), *(f"({n})" for n in notes)]).replace("\n", " ")
    print(f"soilspec: error: {line}", file=sys.stderr)
    return 2


# -- parser ---------------------------------------------------------------------
def _build_parser():
    parser = _Parser(
        prog="soilspec",
        description="Soil spectroscopy: localise spectral calibration models by transfer learning.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "localise",
        help="compare global, local and transfer models on every domain; write a report",
        description=(
            "Run the localisation experiment (global vs local vs spiked vs transfer) and "
            "write CSV tables, plots and report.md. Without arguments: three LimeSoDa "
            "vis-NIR sites as target domains, the other sites as the global library, "
            "one repeat, fast models."
        ),
    )
    _add_data_options(p)
    p.add_argument("--domains", nargs="+", metavar="DOMAIN",
                   help="target domains (default: 3 LimeSoDa sites, else every domain "
                        "with --min-domain-size samples)")
    p.add_argument("--models", nargs="+", metavar="MODEL",
                   help="models to run (default: the study's set plsr_local plsr_global "
                        "plsr_spiked mbl cnn_local cnn_global cnn_transfer, plus gpr_local (a "
                        "Gaussian process on principal components) and localised: the "
                        "package's LocalisedRegressor from a per-site standardised global CNN "
                        "(cnn_global_domain) and the global library); other recipes can be "
                        "named too (e.g. cnn_transfer_ensemble, blend_ensemble_gpr_d1d2_plsr; "
                        "a wrong name lists them all)")
    p.add_argument("--repeats", type=_positive_int, default=1,
                   help="random test splits per domain (default: 1)")
    p.add_argument("--split", choices=("random", "folds"), default="random",
                   help="random test splits, or the data's own folds (default: random)")
    p.add_argument("--test-size", type=_fraction, default=0.1,
                   help="test fraction of each domain (default: 0.1)")
    p.add_argument("--min-domain-size", type=_positive_int, default=20,
                   help="smallest domain used as a target domain (default: 20)")
    p.add_argument("--full", action="store_true",
                   help="study-size models (200 epochs, up to 20 PLS components) "
                        "instead of the fast set")
    p.add_argument("--epochs", type=_positive_int,
                   help="maximum epochs of the CNNs (default: 60, --full 200)")
    p.add_argument("--out", default="soilspec-report",
                   help="report folder (default: soilspec-report)")
    _add_overwrite(p, "replace an earlier report in --out (its files only)")
    _add_run_options(p)
    p.add_argument("--n-jobs", type=int, default=None,
                   help="domains run in parallel (joblib; -1: all cores; default: one "
                        "process per target domain, at most one per CPU core)")
    p.set_defaults(run=_localise)

    p = sub.add_parser(
        "train-global",
        help="fit a CNN on a whole library and save a shareable model file",
        description="Fit the multi-task CNN on a library (the global model) and save it "
                    "with save_model, ready for `soilspec fine-tune` and `soilspec predict`.",
    )
    _add_data_options(p)
    p.add_argument("--exclude-domains", nargs="+", metavar="DOMAIN", default=(),
                   help="domains left out of training (e.g. the one you will localise to)")
    p.add_argument("--epochs", type=_positive_int,
                   help="maximum epochs (default: 150, --full 200)")
    p.add_argument("--full", action="store_true", help="study-size network")
    p.add_argument("--grid-step", type=_positive_float, metavar="STEP",
                   help="finest step of the model's wavelength grid, in the library's unit "
                        "(default: 5 nm, 4 cm-1; the library's own step where coarser)")
    p.add_argument("--out", default="global.soilspec", help="model file (default: global.soilspec)")
    _add_overwrite(p)
    _add_run_options(p)
    p.set_defaults(run=_train_global)

    p = sub.add_parser(
        "fine-tune",
        help="localise a saved model on your local samples",
        description="Localise a saved global model on your local samples: per property, "
                    "the global model as it is, recalibrated or fine-tuned, local PLSR and "
                    "Gaussian processes (and MBL and spiked PLSR with --library) are weighed "
                    "by cross-fitting on the local samples (LocalisedRegressor). --plain "
                    "runs the study's recipe instead: the network fine-tuned with its "
                    "early layers frozen.",
    )
    p.add_argument("model", help="model file (.soilspec; a joblib file of a fitted Pipeline "
                                       "with --allow-pickle)")
    p.add_argument("csv", metavar="DATA",
                   help="local samples: a CSV of wavelength-named spectral columns and "
                        "property columns, or with --data opus/asd a folder of scans and --lab")
    p.add_argument("--targets", nargs="+", metavar="PROPERTY",
                   help="property columns (default: every numeric non-spectral column)")
    p.add_argument("--id-column", help="sample id column of the CSV (default: one named "
                                        "like id, sample or sample_id)")
    p.add_argument("--library", metavar="CSV",
                   help="the global library (CSV, domains in --group-column): adds memory-based "
                        "learning and spiked PLSR to the localised model's candidates")
    p.add_argument("--group-column", help="--library: column holding the domain")
    p.add_argument("--plain", action="store_true",
                   help="the study's recipe instead of the localised model: only the network, "
                        "fine-tuned with --freeze layers fixed, saved as a .soilspec file")
    p.add_argument("--freeze", default="features",
                   help="--plain: layers kept fixed: features, shared, none, or a number of "
                        "convolution blocks (default: features)")
    p.add_argument("--epochs", type=_positive_int, help="maximum epochs (default: the model's)")
    p.add_argument("--n-jobs", type=int, default=-1,
                   help="candidates of the localised model fitted in parallel (joblib; "
                        "default: -1, all cores)")
    p.add_argument("--out", default=None,
                   help="model file (default: local.soilspec; a .joblib name writes a pickle)")
    _add_overwrite(p)
    _add_pickle(p)
    _add_instrument_options(p)
    _add_csv_options(p)
    _add_run_options(p)
    p.set_defaults(run=_fine_tune)

    p = sub.add_parser(
        "predict",
        help="apply a saved model to the spectra of a CSV",
        description="Predict soil properties for every spectrum of a CSV file. Spectra on "
                    "another wavelength grid are interpolated onto the model's.",
    )
    p.add_argument("model", help="model file (.soilspec; a joblib file of a fitted model "
                                       "with --allow-pickle)")
    p.add_argument("csv", metavar="DATA",
                   help="spectra: a CSV of wavelength-named columns, one row per sample, or "
                        "with --data opus/asd a folder, glob or file of scans")
    p.add_argument("--id-column", help="sample id column, copied to the output (default: "
                                        "one named like id, sample or sample_id, else the "
                                        "row number)")
    p.add_argument("--out", default="predictions.csv", help="output CSV (default: predictions.csv)")
    _add_overwrite(p)
    _add_pickle(p)
    _add_instrument_options(p)
    _add_csv_options(p)
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.set_defaults(run=_predict)
    return parser


def _add_data_options(p):
    g = p.add_argument_group("data")
    g.add_argument("--data", choices=DATA_KINDS, default="limesoda-visnir",
                   help="library: bundled LimeSoDa (vis-NIR or MIR) or a file/folder given "
                        "with --path (default: limesoda-visnir)")
    g.add_argument("--path", help="file or folder for --data lucas, ossl, ossl-mir or csv; "
                                  "for opus and asd a folder, a glob or one scan file")
    g.add_argument("--lab", metavar="TABLE.csv",
                   help="opus/asd: lab values keyed by sample id (the --id-column, default "
                        "sample_id); replicate scans of one sample are averaged")
    g.add_argument("--targets", nargs="+", metavar="PROPERTY",
                   help="properties to model (default: OC pH clay; CSV: every numeric "
                        "non-spectral column)")
    g.add_argument("--group-column", help="CSV: column holding the domain (site, country)")
    g.add_argument("--id-column", help="CSV: sample id column (default: one named like id, "
                                        "sample or sample_id)")
    _add_csv_options(g, only_csv=True)


def _add_instrument_options(p):
    p.add_argument("--data", choices=("csv", "opus", "asd"), default="csv",
                   help="what DATA is: a CSV (default), Bruker OPUS or ASD scan files")
    p.add_argument("--lab", metavar="TABLE.csv",
                   help="opus/asd: lab values keyed by sample id (--id-column, default "
                        "sample_id)")


def _add_csv_options(p, only_csv=False):
    what = "CSV: " if only_csv else ""
    p.add_argument("--unit", choices=("nm", "cm-1"), default=None if only_csv else "nm",
                   help=f"{what}unit of the wavelength column names: nm (vis-NIR) or cm-1 "
                        "(MIR wavenumbers) (default: nm)")
    p.add_argument("--measurement", choices=("auto", "absorbance", "reflectance"),
                   default=None if only_csv else "auto",
                   help=f"{what}what the spectra are (default: auto, from the visible slope; "
                        "MIR files must say)")
    p.add_argument("--sep", default=None if only_csv else ",",
                   help=f"{what}field separator (default: ',')")
    p.add_argument("--decimal", default=None if only_csv else ".",
                   help=f"{what}decimal mark (default: '.'; ',' for many ';' files)")
    p.add_argument("--bad-values", choices=("raise", "nan"), default=None if only_csv else "raise",
                   help=f"{what}a property cell that is no number: an error (raise, the "
                        "default) or missing with a warning (nan)")


def _add_overwrite(p, text="replace an existing output file"):
    p.add_argument("--overwrite", action="store_true", help=text)


def _add_pickle(p):
    p.add_argument("--allow-pickle", action="store_true",
                   help="also load .joblib/.pkl/.pickle models; pickle files can run any "
                        "code when loaded, so only for files you trust")


def _add_run_options(p):
    p.add_argument("--device", default="cpu", help="torch device of the CNNs (default: cpu)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    v = p.add_mutually_exclusive_group()
    v.add_argument("--quiet", action="store_true", help="no progress output")
    v.add_argument("-v", "--verbose", action="store_true", help="also print every training epoch")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
    return value


def _verbosity(args):
    return 0 if args.quiet else (2 if args.verbose else 1)


# -- data -----------------------------------------------------------------------
# -- commands -------------------------------------------------------------------
def _localise(args):
    from ._io import check_report_folder, replace_report
    from .experiments import LocalisationExperiment, default_models

    # The report folder and the models first: a reused folder or a misspelt
    # model name fails before the data are read.
    check_report_folder(args.out, inputs=[args.path], overwrite=args.overwrite)
    models = default_models(fast=not args.full, random_state=args.seed, device=args.device,
                            names=args.models or list(DEFAULT_MODELS), max_epochs=args.epochs,
                            n_ensemble=3)
    library = load_library(args)
    domains = args.domains
    if domains is None and args.data in DEFAULT_LIMESODA_DOMAINS:
        domains = list(DEFAULT_LIMESODA_DOMAINS[args.data])
    n_jobs = args.n_jobs
    if n_jobs is None:
        n_jobs = _domain_jobs(library, domains, args.min_domain_size)
    experiment = LocalisationExperiment(
        models=models, target_domains=domains, test_size=args.test_size,
        n_repeats=args.repeats, split=args.split, min_domain_size=args.min_domain_size,
        n_jobs=n_jobs, random_state=args.seed, verbose=_verbosity(args),
    )
    result = experiment.run(library)
    report = replace_report(args.out, result.write_report)
    if not args.quiet:
        print(result.summary())
        print(f"Report: {report}")
    return 0


def _domain_jobs(library, domains, min_domain_size):
    """Processes for the domains: one per target domain, at most one per core.

    A domain is the experiment's unit of work, and its models (small
    networks on a few hundred spectra, Gaussian processes whose cost is
    Python's) keep one core busy each far better than two threads share one
    model: on two cores two domains side by side take about half the time of
    one process with two torch threads. joblib gives each worker
    ``cores // n_jobs`` threads, so no core is oversubscribed.
    """
    import joblib
    import pandas as pd

    if domains is None:
        counts = pd.Series(library.groups).value_counts()
        domains = counts.index[counts >= min_domain_size]
    return max(1, min(len(domains), joblib.cpu_count()))


def _save(model, path, **meta):
    from ._io import atomic_path
    from .transfer import save_model

    with atomic_path(path) as tmp:
        save_model(model, tmp, **meta)
    return path


def _train_global(args):
    import numpy as np

    from ._io import check_output_path
    from .localised import train_source_model

    check_output_path(args.out, inputs=[args.path], overwrite=args.overwrite)
    library = load_library(args)
    if args.exclude_domains:
        unknown = [d for d in args.exclude_domains if d not in set(library.groups)]
        if unknown:
            raise ValueError(
                f"Unknown domains {unknown}; the library has {library.domains.tolist()}.")
        library = library.subset(~np.isin(library.groups, list(args.exclude_domains)))
    library = library.as_frame()
    if not args.quiet:
        print(f"Training the global model on {library!r}", flush=True)
    # The recommended source: resampler, SG derivative, a network standardised
    # per domain when the library has domains (pooled with one).
    step = "auto" if args.grid_step is None else args.grid_step
    model = train_source_model(library, min_step=step, fast=not args.full,
                               max_epochs=args.epochs,
                               device=args.device, random_state=args.seed,
                               verbose=int(args.verbose))
    path = _save(model, args.out, unit=library.unit, measurement=library.measurement,
                 target_units=library.target_units,
                 description=library.DESCR.splitlines()[0] if library.DESCR else "")
    if not args.quiet:
        print(_describe_fit_errors(model[-1].training_summary_.get("rmse")))
        print(f"Saved {path}")
    return 0


def _describe_fit_errors(errors):
    """The network's RMSE per property on its held-out validation rows (and training rows)."""
    if not errors:
        return "No validation rows were held out: the model file records no validation error."
    n = max(errors["n_validation"].values())
    # A property measured in fewer of the held-out spectra says in how many.
    parts = [f"{t} {v:.4g} ({errors['training'][t]:.4g}"
             + ("" if errors["n_validation"][t] == n else f"; {errors['n_validation'][t]} rows")
             + ")" for t, v in errors["validation"].items() if v is not None]
    unmeasured = [t for t, v in errors["validation"].items() if v is None]
    return (f"Validation RMSE on {n} held-out spectra (training RMSE): " + ", ".join(parts)
            + (f"; not measured in them: {', '.join(unmeasured)}" if unmeasured else "")
            + "; kept in the model file.")


def _fine_tune(args):
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    from ._io import check_output_path

    if args.out is None:
        args.out = "local.soilspec"
    inputs = [args.model, args.csv] + ([args.library] if args.library else [])
    check_output_path(args.out, inputs=inputs, overwrite=args.overwrite)
    if args.plain and args.library:
        raise _UsageError("--library is for the localised model; --plain fine-tunes the "
                          "network alone")
    source = load_model_file(args.model, args.device, args.allow_pickle)
    local = read_spectra(args, args.csv, targets=args.targets, id_column=args.id_column)
    if not local.target_names:
        raise ValueError(
            f"{args.csv}: no property column to fine-tune on; name them with --targets.")
    if not args.plain:
        return _localise_model(args, source, local)
    prefix = f"{source.steps[-1][0]}__" if isinstance(source, Pipeline) else ""
    freeze = args.freeze
    if freeze == "none":
        freeze = None
    elif freeze.isdigit():
        freeze = int(freeze)
    model = clone(source)
    params = {
        f"{prefix}warm_start_from": source,
        f"{prefix}freeze_layers": freeze,
        f"{prefix}random_state": args.seed,
        f"{prefix}device": args.device,
        f"{prefix}verbose": int(args.verbose),
    }
    if args.epochs:
        params[f"{prefix}max_epochs"] = args.epochs
    try:
        model.set_params(**params)
    except ValueError as exc:
        raise ValueError(
            f"{args.model} cannot be fine-tuned: {exc} (fine-tune needs a "
            "SpectralCNNRegressor or a Pipeline ending in one)") from None
    X = spectra_for(source, local)
    if not args.quiet:
        print(f"Fine-tuning {args.model} on {len(local)} local samples "
              f"({', '.join(local.target_names)})", flush=True)
    model.fit(X, local.as_frame().Y)
    report = getattr(model.steps[-1][1] if isinstance(model, Pipeline) else model,
                     "transfer_report_", None)
    path = _save(model, args.out, unit=local.unit, measurement=local.measurement)
    if not args.quiet:
        if report:
            print(_describe_transfer(report))
        print(f"Saved {path}")
    return 0


def _replicate_groups(local, quiet):
    """The sample ids where some repeat (replicate scans), else None."""
    import pandas as pd

    ids = getattr(local, "sample_ids", None)
    if ids is None or pd.unique(ids).size == len(ids):
        return None
    if not quiet:
        print(f"{len(ids)} rows are scans of {pd.unique(ids).size} samples (their ids "
              "repeat): a sample's scans are held out together", flush=True)
    return ids


def _localise_model(args, source, local):
    """fine-tune without --plain: a LocalisedRegressor, written as a .soilspec model file."""
    from .localised import LocalisedRegressor

    library = None
    if args.library:
        from .datasets import load_spectral_csv

        library = load_spectral_csv(args.library, group_column=args.group_column,
                                    **csv_options(args))
    frame = local.as_frame()
    if not args.quiet:
        print(f"Localising {args.model} on {len(local)} local samples "
              f"({', '.join(local.target_names)})"
              + (f" with the library {args.library}" if library is not None else ""),
              flush=True)
    fine_tune = {"device": args.device} if args.epochs is None else {
        "device": args.device, "max_epochs": args.epochs}
    groups = _replicate_groups(local, args.quiet)
    model = LocalisedRegressor(source, library=library, fine_tune=fine_tune,
                               random_state=args.seed, n_jobs=args.n_jobs,
                               verbose=int(not args.quiet)).fit(frame.X, frame.Y, groups=groups)
    pickled = str(args.out).lower().endswith((".joblib", ".pkl", ".pickle"))
    if pickled:
        # Asked for by name: a pickle for the user's own machines only.
        import joblib

        from ._io import atomic_write

        with atomic_write(args.out, "wb") as f:
            joblib.dump(model, f)
    else:
        _save(model, args.out, unit=local.unit, measurement=local.measurement,
              target_units=getattr(local, "target_units", None))
    if not args.quiet:
        print(_describe_localisation(model.localisation_report_))
        print(f"Saved {args.out}" + (
            f" (a joblib pickle: `soilspec predict {args.out} DATA --allow-pickle`; load it "
            "only where you trust its origin)" if pickled else ""))
    return 0


def _describe_localisation(report):
    chosen = report[report["candidate"] == "localised"]
    lines = ["Out-of-fold RMSE on the local samples, and what each property uses "
             "(negative transfer shows as a loss against local PLSR):"]
    for _, r in chosen.iterrows():
        lines.append(f"  {r['property']}: {r['option']}, RMSE {r['oof_rmse']:.4g} "
                     f"({r['vs_source_pct']:+.1f} % vs the global model as it is, "
                     f"{r['vs_plsr_pct']:+.1f} % vs local PLSR)")
    return "\n".join(lines)


def _describe_transfer(report):
    before, after = report.get("rmse_before") or {}, report.get("rmse_after") or {}
    # A new head starts from random weights: its "before" is no source model's.
    carried = set(report.get("carried_targets") or ())
    pairs = [f"{t} {before[t]:.4g} -> {after[t]:.4g}" for t in after
             if t in before and t in carried]
    if not pairs:
        return f"Transfer report: {report}"
    where = report.get("evaluated_on", "validation")
    return f"RMSE on the {where} samples, source model -> fine-tuned: " + ", ".join(pairs)


def _predict(args):
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from ._io import atomic_write, check_output_path

    check_output_path(args.out, inputs=[args.model, args.csv], overwrite=args.overwrite)
    model = load_model_file(args.model, args.device, args.allow_pickle)
    library = read_spectra(args, args.csv, targets=[], id_column=args.id_column)
    X = spectra_for(model, library)
    final = model.steps[-1][1] if isinstance(model, Pipeline) else model
    # The localised model's split-conformal 90 % intervals, per property,
    # from the same pass over its candidates as the predictions.
    with_interval = hasattr(final, "predict_interval")
    got = model.predict(X, return_interval=True) if with_interval else (model.predict(X),)
    pred, *bounds = (np.asarray(a, dtype=np.float64).reshape(len(library.sample_ids), -1)
                     for a in got)
    names = getattr(final, "target_names_", None) or [f"target_{i}" for i in range(pred.shape[1])]
    names = list(names)
    out = pd.DataFrame(pred, columns=names, index=pd.Index(library.sample_ids, name="sample_id"))
    if bounds:
        lower, upper = bounds
        for j, name in enumerate(names):
            out[f"{name}_lower_90"], out[f"{name}_upper_90"] = lower[:, j], upper[:, j]
    with atomic_write(args.out, "w", encoding="utf-8", newline="") as f:
        out.to_csv(f)
    print(f"Wrote {len(out)} predictions of {', '.join(names)} to {args.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
