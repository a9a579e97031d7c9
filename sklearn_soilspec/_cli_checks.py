"""What the ``soilspec`` command checks before it starts: the device, the model file.

A torch device that does not exist here, or a pickle model file loaded
without being asked for, is refused before any data are read.
"""

import os
import sys

__all__ = ["check_device", "load_model_file", "model_unit"]



class UsageError(Exception):
    """A wrong command line: reported in one line with exit status 2."""


def check_device(text):
    """A usable torch device, before any data are read or models built."""
    if text == "cpu":
        return
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"--device {text!r} is not a torch device; use cpu, cuda, cuda:N or mps"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"--device {text}: no CUDA GPU is available (torch.cuda.is_available() is "
                "False); use --device cpu, or install a CUDA build of torch on a GPU machine"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"--device {text}: only {torch.cuda.device_count()} CUDA device(s) here; "
                f"use cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"--device {text}: MPS is not available here; use --device cpu")
    elif device.type != "cpu":
        raise ValueError(f"--device {text!r}: only cpu, cuda and mps are supported")



_PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")


def load_model_file(path, device, allow_pickle=False):
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such model file: {path!r}")
    if not path.lower().endswith(_PICKLE_SUFFIXES):
        from .transfer import load_model

        return load_model(path, device=device)
    if not allow_pickle:
        raise ValueError(
            f"{path} is a pickle (joblib) file, which can run any code when loaded; pass "
            "--allow-pickle if you trust its source, or share models as .soilspec files "
            "(save_model)")
    print(f"soilspec: warning: loading the pickle file {path}: pickle files can run any "
          "code; do this only for files you trust (models written by "
          "sklearn_soilspec.transfer.save_model, the localised one included, load without "
          "pickle)", file=sys.stderr)
    import joblib

    try:
        model = joblib.load(path)
    except Exception as exc:  # unpickling raises anything the file asks for
        raise ValueError(
            f"{path}: not a readable joblib file ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})") from None
    if not (hasattr(model, "predict") and hasattr(model, "get_params")):
        raise ValueError(
            f"{path}: holds a {type(model).__name__}, not a fitted scikit-learn model "
            "(an estimator or Pipeline with predict)")
    from sklearn.utils.validation import check_is_fitted

    final = model.steps[-1][1] if hasattr(model, "steps") else model
    try:
        check_is_fitted(final)
    except Exception:  # NotFittedError, or a TypeError for a non-estimator
        raise ValueError(f"{path}: the {type(final).__name__} in it is not fitted") from None
    return model


def model_unit(path):
    """The unit stored in a .soilspec file, or None."""
    return _model_metadata(path).get("unit")


def check_measurement(model_path, library, csv_path):
    """Refuse spectra of another kind than the model was trained on (reflectance vs absorbance).

    A reflectance CSV fed to an absorbance model predicts garbage without any
    error (OC RMSE 3.24 instead of 0.46 in one trial), so the kind recorded in
    the model file is compared with the one the CSV was read as.
    """
    wanted = _model_metadata(model_path).get("measurement")
    have = getattr(library, "measurement", None)
    if wanted and have and wanted != have:
        raise ValueError(
            f"{model_path} takes {wanted} spectra but {csv_path} holds {have}; convert the "
            f"spectra to {wanted} first (sklearn_soilspec.preprocessing.Absorbance turns "
            "reflectance into absorbance), or, if the file was misread, state what it holds "
            "with --measurement.")


def _model_metadata(path):
    if path.lower().endswith(_PICKLE_SUFFIXES):
        return {}
    from .transfer import read_metadata

    return read_metadata(path)
