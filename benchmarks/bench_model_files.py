"""Model files of the localised model: size, save and load time, exactness, against joblib.

A synthetic library (``make_spectra``: ``--library`` spectra in five domains,
400-2500 nm every 10 nm), the recommended global model
(``train_source_model(fast=True)``) and a ``LocalisedRegressor`` with every
candidate (``members="auto"``, the library given) fitted on ``--local`` rows
of a held-out domain. The model is written with
``sklearn_soilspec.transfer.save_model`` (the safe file, format version 3)
and with ``joblib.dump`` (a pickle), and each is loaded in a fresh Python
process (imports included, as ``soilspec predict`` pays them) and again in
the same process (warm). Predictions and 90 % intervals of the loaded models
are compared with the original's, bit for bit.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_model_files.py [--library 1000] [--local 60]
        [--epochs 30] [--members auto]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import joblib
import numpy as np
import torch

from sklearn_soilspec.datasets import make_spectra
from sklearn_soilspec.localised import LocalisedRegressor, train_source_model
from sklearn_soilspec.transfer import load_model, save_model

_FRESH = """
import json, sys, time
t = time.perf_counter()
if sys.argv[1] == "soilspec":
    from sklearn_soilspec.transfer import load_model
    model = load_model(sys.argv[2])
else:
    import joblib
    model = joblib.load(sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def _fresh_load(kind, path):
    out = subprocess.run([sys.executable, "-c", _FRESH, kind, path], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["seconds"]


def _timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", type=int, default=1000)
    parser.add_argument("--local", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=30, help="global model epochs")
    parser.add_argument("--members", default="auto",
                        help="candidates, comma-separated (default: auto); one candidate "
                             "alone is kept whatever its score, to measure its file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    lib = make_spectra(args.library, n_domains=5, wavelengths=np.arange(400.0, 2501.0, 10.0),
                       targets=("OC", "clay", "pH"), random_state=0).as_frame()
    local, glob = lib.split_domain("domain_4")
    source, t_source = _timed(train_source_model, glob, fast=True, max_epochs=args.epochs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        members = "auto" if args.members == "auto" else args.members.split(",")
        model, t_fit = _timed(LocalisedRegressor(source, library=glob, members=members).fit,
                              local.X[:args.local], local.Y[:args.local])
    X_new = local.X[args.local:]
    folder = tempfile.mkdtemp()
    safe, pkl = os.path.join(folder, "local.soilspec"), os.path.join(folder, "local.joblib")
    _, t_save = _timed(save_model, model, safe)
    _, t_dump = _timed(joblib.dump, model, pkl)
    loaded, t_load_warm = _timed(load_model, safe)
    unpickled, t_joblib_warm = _timed(joblib.load, pkl)
    same = bool(np.array_equal(model.predict(X_new), loaded.predict(X_new)) and all(
        np.array_equal(a, b) for a, b in zip(model.predict_interval(X_new),
                                             loaded.predict_interval(X_new))))
    result = {
        "library_spectra": len(glob), "local_rows": args.local, "members": args.members,
        "wavelengths": lib.X.shape[1],
        "members_kept": {k: type(v).__name__ for k, v in model.members_.items()},
        "seconds_source": round(t_source, 1), "seconds_localised_fit": round(t_fit, 1),
        "soilspec_bytes": os.path.getsize(safe), "joblib_bytes": os.path.getsize(pkl),
        "save_seconds": round(t_save, 3), "joblib_dump_seconds": round(t_dump, 3),
        "load_seconds_fresh_process": round(_fresh_load("soilspec", safe), 2),
        "joblib_load_seconds_fresh_process": round(_fresh_load("joblib", pkl), 2),
        "load_seconds_warm": round(t_load_warm, 3),
        "joblib_load_seconds_warm": round(t_joblib_warm, 3),
        "predictions_and_intervals_identical": same,
        "load_average": os.getloadavg(),
    }
    print(json.dumps(result, indent=1))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
