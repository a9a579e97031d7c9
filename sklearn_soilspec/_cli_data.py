"""How the ``soilspec`` command reads its data: libraries, CSVs and instrument files."""

import os

from ._cli_checks import UsageError, check_measurement, model_unit

__all__ = ["DATA_KINDS", "FILE_KINDS", "INSTRUMENT_KINDS", "csv_options", "load_library",
           "read_spectra", "spectra_for"]

DATA_KINDS = ("limesoda-visnir", "limesoda-mir", "lucas", "ossl", "ossl-mir", "csv", "opus", "asd")
INSTRUMENT_KINDS = ("opus", "asd")
FILE_KINDS = ("lucas", "ossl", "ossl-mir", "csv") + INSTRUMENT_KINDS


def csv_options(args):
    return {"unit": args.unit or "nm", "measurement": args.measurement or "auto",
            "sep": args.sep or ",", "decimal": args.decimal or ".",
            "bad_values": args.bad_values or "raise"}


def load_library(args):
    """The SpectralLibrary named by the data options."""
    from . import datasets

    kind, path, targets = args.data, args.path, args.targets
    if kind in FILE_KINDS and not path:
        raise UsageError(f"--data {kind} needs --path FILE_OR_FOLDER")
    if kind not in FILE_KINDS and path:
        raise UsageError(f"--path is only for --data {', '.join(FILE_KINDS)}")
    if getattr(args, "lab", None) and kind not in INSTRUMENT_KINDS:
        raise UsageError(f"--lab is only for --data {', '.join(INSTRUMENT_KINDS)}")
    # A glob is a valid instrument path; the instrument loaders say what is missing.
    if path and kind not in INSTRUMENT_KINDS and not os.path.exists(path):
        raise FileNotFoundError(f"No such file or folder: {path!r}")
    allowed = {"csv": ("unit", "measurement", "sep", "decimal", "bad_values"),
               "opus": ("sep", "bad_values"), "asd": ("sep", "bad_values")}.get(kind, ())
    given = [f"--{k.replace('_', '-')}" for k in ("unit", "measurement", "sep", "decimal",
                                                   "bad_values")
             if getattr(args, k, None) is not None and k not in allowed]
    if given:
        raise UsageError(f"{', '.join(given)}: not for --data {kind}")
    if kind in INSTRUMENT_KINDS:
        library = read_instrument_files(kind, path, args, targets)
        if not library.target_names:
            raise UsageError(f"--data {kind} needs --lab TABLE.csv with the lab values "
                             "(keyed by sample id) to train on")
        return library
    if kind.startswith("limesoda"):
        options = {} if targets is None else {"targets": targets}
        return datasets.load_limesoda_spectra(kind.split("-")[1], **options)
    if kind == "lucas":
        return datasets.load_lucas(path, **({} if targets is None else {"properties": targets}))
    if kind.startswith("ossl"):
        spectra = "mir" if kind == "ossl-mir" else "visnir"
        options = {} if targets is None else {"properties": targets}
        return datasets.load_ossl(path, spectra=spectra, **options)
    library = datasets.load_spectral_csv(path, target_columns=targets,
                                         group_column=args.group_column,
                                         id_column=args.id_column, **csv_options(args))
    if not library.target_names:
        raise ValueError(
            f"{path}: no property columns found (numeric columns other than the spectra, "
            "the group and the id column); name them with --targets.")
    return library


def read_spectra(args, path, targets=None, id_column=None):
    """The data of the fine-tune/predict commands (CSV or instrument files), checked
    against the model's unit and measurement."""
    kind = getattr(args, "data", "csv")
    if kind in INSTRUMENT_KINDS:
        library = read_instrument_files(kind, path, args, targets)
    else:
        from .datasets import load_spectral_csv

        if getattr(args, "lab", None):
            raise UsageError("--lab is only for --data opus or asd")
        options = csv_options(args)
        unit = model_unit(args.model)
        if unit and unit != options["unit"]:
            raise ValueError(
                f"{args.model} was trained on spectra in {unit} but {path} is read in "
                f"{options['unit']}; pass --unit {unit}")
        library = load_spectral_csv(path, target_columns=targets, id_column=id_column,
                                    **options)
    unit = model_unit(args.model)
    if unit and library.unit and unit != library.unit:
        raise ValueError(f"{args.model} takes spectra in {unit} but {path} holds {library.unit}.")
    check_measurement(args.model, library, path)
    return library


def read_instrument_files(kind, path, args, targets=None):
    """Bruker OPUS or ASD scans (replicates averaged), joined to ``--lab`` if given."""
    from . import datasets

    loader = datasets.load_opus if kind == "opus" else datasets.load_asd
    lab = getattr(args, "lab", None)
    options = {"lab": lab}
    if lab:
        options.update(id_column=getattr(args, "id_column", None) or "sample_id",
                       sep=getattr(args, "sep", None) or ",",
                       bad_values=getattr(args, "bad_values", None) or "raise")
        if getattr(args, "group_column", None):
            options["group_column"] = args.group_column
        if targets:
            options["target_columns"] = targets
    return loader(path, **options)


def spectra_for(model, library):
    """The library's spectra on the model's wavelength grid, as a DataFrame.

    A model fitted on a DataFrame knows its input columns; spectra measured on
    another grid are interpolated onto it (never extrapolated).
    """
    import numpy as np
    import pandas as pd

    from .preprocessing import parse_wavelengths, resample_spectra

    X = library.as_frame().X
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        expected = getattr(model, "n_features_in_", X.shape[1])
        if expected != X.shape[1]:
            raise ValueError(
                f"The model expects {expected} spectral points but the CSV has "
                f"{X.shape[1]}; the model does not know its wavelengths (fitted without "
                "column names), so resample the spectra onto its grid first (e.g. with "
                "sklearn_soilspec.preprocessing.WavelengthResampler) or refit it on a "
                "DataFrame with wavelength-named columns.")
        return X
    try:
        grid = parse_wavelengths(list(names))
    except ValueError:
        raise ValueError(
            f"The model's input columns ({list(names)[:3]} ...) are not wavelengths, so "
            "the spectra cannot be matched to them; refit the model on wavelength-named "
            "columns.") from None
    lo, hi = library.wavelengths.min(), library.wavelengths.max()
    if grid.min() < lo - 1e-6 or grid.max() > hi + 1e-6:
        raise ValueError(
            f"The model needs spectra from {grid.min():g} to {grid.max():g} "
            f"{library.unit} but the CSV covers {lo:g}-{hi:g}; spectra are resampled onto "
            "the model's grid but never extrapolated. Measure the full range, or check "
            "--unit.")
    if grid.shape == library.wavelengths.shape and np.allclose(grid, library.wavelengths):
        values = X.to_numpy()
    else:
        values = resample_spectra(X.to_numpy(dtype=np.float64), library.wavelengths, grid)
    return pd.DataFrame(values, columns=list(names), index=X.index)
