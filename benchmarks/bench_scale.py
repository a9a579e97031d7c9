"""LUCAS-size scale: peak memory, throughput and cost growth of the whole path.

The path is the one a user runs on a LUCAS-size library (20,000 spectra,
400-2499.5 nm every 0.5 nm = 4,200 points, float32, from ``make_spectra``):

    load -> WavelengthResampler -> SNV -> Spectrogram -> SpectralCNNRegressor

Sections (all by default, or pick with ``--sections``):

memory
    Peak resident memory (VmHWM, else ``ru_maxrss``) of the path cut after each stage, each
    in a fresh process, so every figure includes Python, numpy and torch.
transformers, training
    Spectra per second of every transformer on the library, and of training
    and prediction by the estimator vs a bare torch loop on the same module
    (``bench_transformers.py`` and ``bench_training.py``, called from here so the
    figures come from one run on one machine).
growth
    Seconds per epoch and peak memory at 2,000 / 5,000 / 10,000 / 20,000 spectra.
global
    Wall time of the global model (package defaults: 200 epochs at most,
    early stopping after 20 flat ones) on the whole library, until it stops.
inference
    Prediction spectra per second of both architectures on the library.
lucas-predict
    Prediction through the pipeline ``make_source_model()`` builds by default
    (``WavelengthResampler`` onto a grid 5 nm apart -> ``SavitzkyGolay`` first
    derivative -> the fast ``SpectralCNNRegressor``), from the library as a
    DataFrame with wavelength column names, stage by stage, beside a bare torch
    forward pass of the same module on its own input in the same run; then the
    same with the wider network and/or a 2 nm grid.

    python benchmarks/bench_scale.py                     # everything, full size (hours on 2 cores)
    python benchmarks/bench_scale.py --sections memory   # the memory table only
    python benchmarks/bench_scale.py --quick             # small smoke run of every section
    python benchmarks/bench_scale.py --threads 2 --device cuda --precision bf16
    python benchmarks/bench_scale.py --sections lucas-predict --threads 2 --repeats 3
"""

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
STAGES = ("import", "load", "preprocess", "spectrogram", "train")
ARCHITECTURES = ("conv1d", "spectrogram2d")
# Tiny networks for --quick: the point there is that the script runs.
QUICK_MODULES = {
    "conv1d": {"channels": (4, 8), "shared_units": (16,), "head_units": 8},
    "spectrogram2d": {"channels": ((4,), (8,)), "shared_units": (16,), "head_units": 8},
}


def peak_rss_mb():
    """Peak resident memory of this process in MB."""
    # Linux's ru_maxrss survives exec, so a child started by a big parent would
    # report the parent's peak; VmHWM belongs to this process image alone.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / 2**20  # kB on Linux


def library(n_samples, seed=0):
    from sklearn_soilspec.datasets import make_spectra

    return make_spectra(n_samples=n_samples, n_domains=10,
                        wavelengths=np.arange(400.0, 2500.0, 0.5), random_state=seed)


def path_steps(architecture, cfg, wavelengths):
    """The transformers of the path and the network at its end."""
    from sklearn_soilspec.neural import SpectralCNNRegressor
    from sklearn_soilspec.preprocessing import SNV, Spectrogram, WavelengthResampler

    # The 2-D network sees spectrograms of 1 nm spectra (51 x 41 with the default
    # window), the 1-D network spectra at 2 nm (1,050 points).
    step = 1 if architecture == "spectrogram2d" else 2
    # Arrays and an explicit axis: a DataFrame of the library would be a second copy.
    target = (400, 2499, step) if step == 1 else (400, 2498, step)
    steps = [("resample", WavelengthResampler(target=target, wavelengths=wavelengths)),
             ("snv", SNV())]
    if architecture == "spectrogram2d":
        steps.append(("spectrogram", Spectrogram(flatten=False)))
    model = SpectralCNNRegressor(
        architecture=architecture,
        module_params=(QUICK_MODULES[architecture] if cfg["quick"]
                       else cfg.get("module_params", {}).get(architecture)),
        batch_size=cfg["batch_size"], max_epochs=cfg["epochs"], patience=cfg["patience"],
        random_state=0, device=cfg["device"], precision=cfg["precision"],
    )
    return steps, model


def run_stage(stage, n_samples, architecture, cfg):
    """Run the path up to ``stage`` in this process; return its measurements."""
    import torch

    if cfg["threads"]:
        torch.set_num_threads(cfg["threads"])
    out = {"stage": stage, "n_samples": n_samples, "architecture": architecture}
    start = time.perf_counter()
    if stage != "import":
        lib = library(n_samples)
        X, Y = lib.X, lib.Y
        X.flags.writeable = False  # a transformer writing into the library is a bug
        out["input"] = f"{X.shape[0]} x {X.shape[1]} {X.dtype}"
        steps, model = path_steps(architecture, cfg, lib.wavelengths)
        if stage in ("preprocess", "spectrogram"):
            keep = [s for s in steps if stage == "spectrogram" or s[0] != "spectrogram"]
            for _, tr in keep:
                X = tr.fit_transform(X)
            out["output"] = f"{' x '.join(map(str, X.shape))} {X.dtype}"
        elif stage == "train":
            from sklearn.pipeline import Pipeline

            pipe = Pipeline([*steps, ("cnn", model)]).fit(X, Y)
            hist = pipe[-1].history_
            durations = hist[:, "dur"]
            out["epochs"] = len(hist)
            out["best_epoch"] = int(np.argmin(hist[:, "valid_loss"])) + 1
            out["epoch_s"] = float(np.mean(durations[1:] if len(durations) > 1 else durations))
            out["train_spectra_per_s"] = pipe[-1].training_summary_["n_train"] / out["epoch_s"]
            # A shared or virtual machine jitters by tens of per cent from call to
            # call: the median of repeated predictions is the figure reported,
            # the two batch settings taking turns so that both see the same jitter.
            settings = {"auto": None, "training batch": cfg["batch_size"]}
            rates = {k: [] for k in settings}
            for _ in range(cfg.get("predict_repeats", 5)):
                for key, rows in settings.items():
                    pipe[-1].set_params(predict_batch_size=rows)
                    t0 = time.perf_counter()
                    pipe.predict(lib.X)
                    rates[key].append(n_samples / (time.perf_counter() - t0))
            pipe[-1].set_params(predict_batch_size=None)
            out["predict_rows_auto"] = pipe[-1]._predict_rows()
            out["predict_spectra_per_s"] = float(np.median(rates["auto"]))
            out["predict_spectra_per_s_range"] = (min(rates["auto"]), max(rates["auto"]))
            out["predict_spectra_per_s_train_batch"] = float(np.median(rates["training batch"]))
    out["wall_s"] = time.perf_counter() - start
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def measure(stage, n_samples, architecture, cfg):
    """``run_stage`` in a fresh interpreter, so its peak memory is its own."""
    cmd = [sys.executable, __file__, "--_stage", stage, "--_n", str(n_samples),
           "--_architecture", architecture, "--_cfg", json.dumps(cfg)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"stage {stage} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def load_sibling(name):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def section_memory(n, cfg):
    print(f"\n## Peak memory of the path on {n:,} spectra (fresh process per row)\n")
    print("| architecture | path up to | output | peak RSS MB | wall s |")
    print("|---|---|---|---:|---:|")
    for arch in ARCHITECTURES:
        for stage in STAGES:
            if stage == "spectrogram" and arch == "conv1d":
                continue
            r = measure(stage, n, arch, dict(cfg, epochs=cfg["memory_epochs"], patience=None))
            shown = r.get("output", r.get("input", "-"))
            if stage == "train":
                shown = f"{r['epochs']} epoch(s) trained, predicted"
            print(f"| {arch} | {stage} | {shown} | {r['peak_rss_mb']:,.0f} | {r['wall_s']:.1f} |")


def section_growth(sizes, cfg, architectures=ARCHITECTURES):
    print(f"\n## Cost growth ({cfg['growth_epochs']} epochs each, fresh process per row)\n")
    print("| architecture | spectra | s per epoch | train spectra/s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|")
    for arch in architectures:
        for n in sizes:
            r = measure("train", n, arch, dict(cfg, epochs=cfg["growth_epochs"], patience=None))
            print(f"| {arch} | {n:,} | {r['epoch_s']:.2f} | {r['train_spectra_per_s']:,.0f} "
                  f"| {r['peak_rss_mb']:,.0f} |")


def section_global(n, cfg, architectures):
    print(f"\n## Global model on {n:,} spectra until early stopping "
          f"(max {cfg['global_epochs']} epochs, patience {cfg['global_patience']})\n")
    print("| architecture | epochs run | best epoch | s per epoch | total min | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for arch in architectures:
        r = measure("train", n, arch,
                    dict(cfg, epochs=cfg["global_epochs"], patience=cfg["global_patience"]))
        print(f"| {arch} | {r['epochs']} | {r['best_epoch']} | {r['epoch_s']:.1f} "
              f"| {r['wall_s'] / 60:.1f} | {r['peak_rss_mb']:,.0f} |")


def section_inference(n, cfg, architectures=ARCHITECTURES):
    print(f"\n## Prediction on {n:,} spectra (whole pipeline, after 1 epoch of training)\n")
    print(f"Median of {cfg.get('predict_repeats', 5)} predictions of the whole library "
          "(lowest - highest beside it): the package's cache-sized prediction batches "
          f"(`predict_batch_size=None`) and, taking turns with them, batches of the training "
          f"batch size ({cfg['batch_size']}).\n")
    print("| architecture | auto rows | predict spectra/s (auto, median) | range "
          "| predict spectra/s (training batch, median) |")
    print("|---|---:|---:|---:|---:|")
    for arch in architectures:
        r = measure("train", n, arch, dict(cfg, epochs=1, patience=None))
        lo, hi = r["predict_spectra_per_s_range"]
        print(f"| {arch} | {r['predict_rows_auto']} | {r['predict_spectra_per_s']:,.0f} "
              f"| {lo:,.0f} - {hi:,.0f} | {r['predict_spectra_per_s_train_batch']:,.0f} |")


# The pipelines the prediction section compares, all built by make_source_model:
# its default (a grid 5 nm apart at the finest, the fast network) and the wider
# network and/or a 2 nm grid. make_source_model(min_step=None) keeps the
# library's own 0.5 nm (4,200 points), ten times slower again: not timed here.
PREDICT_PIPELINES = {
    "the default pipeline": dict(),
    "5 nm, wide network": dict(fast=False),
    "2 nm, fast network": dict(min_step=2),
    "2 nm, wide network": dict(min_step=2, fast=False),
}


def load_average():
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def lucas_predict_row(X_frame, Y, make_kwargs, cfg):
    """Spectra/s of each stage of a fitted make_source_model pipeline and of a bare forward pass."""
    import torch

    from sklearn_soilspec.localised import make_source_model

    n = X_frame.shape[0]
    kwargs = dict(make_kwargs, device=cfg["device"])
    if cfg["quick"]:
        kwargs["module_params"] = QUICK_MODULES["conv1d"]
    pipe = make_source_model(max_epochs=1, **kwargs)
    # Prediction speed does not depend on how well the network learned.
    fit_rows = min(n, 1000)
    pipe.fit(X_frame.iloc[:fit_rows], Y.iloc[:fit_rows])
    resample, sg, net = pipe[0], pipe[1], pipe[-1]
    X_r = resample.transform(X_frame)
    X_s = sg.transform(X_r)
    # The bare pass starts from the network's own input: the standardised
    # float32 tensor of the preprocessed spectra.
    X_t = net._to_tensor(net._validate_X(X_s, reset=False))
    module, rows = net.net_.module_.eval(), net._predict_rows()

    def bare():
        with torch.inference_mode():
            return torch.cat([module(X_t[i:i + rows]) for i in range(0, n, rows)])

    stages = {"resample": lambda: resample.transform(X_frame), "sg": lambda: sg.transform(X_r),
              "network (estimator)": lambda: net.predict(X_s), "bare torch": bare,
              "pipeline": lambda: pipe.predict(X_frame)}
    times = {k: [] for k in stages}
    for _ in range(cfg["repeats"]):  # stages take turns, so all see the same jitter
        for key, run in stages.items():
            t0 = time.perf_counter()
            run()
            times[key].append(time.perf_counter() - t0)
    rates = {k: n / float(np.median(v)) for k, v in times.items()}
    rates["pipeline range"] = (n / max(times["pipeline"]), n / min(times["pipeline"]))
    rates["points"], rates["rows"] = X_r.shape[1], rows
    step = np.abs(np.diff(resample.target_wavelengths_[:2]))[0]
    rates["grid"] = f"{step:g} nm"
    rates["network"] = ("quick (4/8, 16, 8)" if cfg["quick"] else "fast (8/16/32, 64, 32)"
                        if kwargs.get("fast", True) else "wide (16/32/64, 128, 100)")
    return rates


def section_lucas_predict(n, cfg):
    import torch

    lib = library(n)
    # What make_source_model's pipeline takes: spectra with their wavelengths
    # as column names (its resampler has no wavelengths= of its own), as a
    # user's library gives them (SpectralLibrary.as_frame, a CSV). pandas
    # stores such a frame column-major.
    frame = lib.as_frame()
    X_frame, Y = frame.X, frame.Y
    del lib
    print(f"\n## Prediction of {n:,} spectra x {X_frame.shape[1]:,} points (a DataFrame, 0.5 nm) "
          f"through make_source_model pipelines, stage by stage (torch threads "
          f"{torch.get_num_threads()}, median of {cfg['repeats']}, load average "
          f"{load_average()} at the start)\n")
    print("`pipeline /s` is `pipe.predict(frame)`; `bare torch /s` is the same module on its own "
          "input tensor (already resampled, differentiated, standardised), in the same run.\n")
    print("| pipeline | grid | network | points | rows/batch | resample /s | SG /s "
          "| network (estimator) /s | bare torch /s | pipeline /s | pipeline range |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    pipelines = PREDICT_PIPELINES
    if cfg["quick"]:
        pipelines = {"the default pipeline": PREDICT_PIPELINES["the default pipeline"]}
    for name, make_kwargs in pipelines.items():
        r = lucas_predict_row(X_frame, Y, make_kwargs, cfg)
        lo, hi = r["pipeline range"]
        label = f"**{name}**" if name == "the default pipeline" else name
        print(f"| {label} | {r['grid']} | {r['network']} | {r['points']:,} | {r['rows']} "
              f"| {r['resample']:,.0f} | {r['sg']:,.0f} | {r['network (estimator)']:,.0f} "
              f"| {r['bare torch']:,.0f} | **{r['pipeline']:,.0f}** | {lo:,.0f} - {hi:,.0f} |",
              flush=True)
    print(f"\nLoad average {load_average()} at the end.")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run of every section")
    parser.add_argument("--sections", nargs="+",
                        default=["memory", "transformers", "training", "growth", "global",
                                 "inference"],
                        help="any of memory transformers training growth global inference "
                             "lucas-predict (the last only when named)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="repeats of each lucas-predict stage (median reported)")
    parser.add_argument("--n-samples", type=int, default=20_000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2_000, 5_000, 10_000, 20_000])
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="32", choices=["32", "bf16", "fp16"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--global-architectures", nargs="+", default=list(ARCHITECTURES))
    parser.add_argument("--global-epochs", type=int, default=200,
                        help="max epochs of the global model (package default 200)")
    parser.add_argument("--global-patience", type=int, default=20,
                        help="early-stopping patience of the global model (package default 20)")
    parser.add_argument("--growth-epochs", type=int, default=3)
    parser.add_argument("--conv1d-params", type=json.loads, default=None,
                        help='module_params of the 1-D network as JSON, e.g. '
                             '\'{"channels": [8, 16, 32], "shared_units": [64], "head_units": 32}\'')
    parser.add_argument("--inference-architectures", nargs="+", default=list(ARCHITECTURES))
    parser.add_argument("--growth-architectures", nargs="+", default=list(ARCHITECTURES))
    parser.add_argument("--_stage", help=argparse.SUPPRESS)
    parser.add_argument("--_n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--_architecture", help=argparse.SUPPRESS)
    parser.add_argument("--_cfg", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._stage:  # a child process measuring one stage
        print(json.dumps(run_stage(args._stage, args._n, args._architecture,
                                   json.loads(args._cfg))))
        return

    cfg = {"quick": args.quick, "threads": args.threads, "device": args.device,
           "precision": args.precision, "batch_size": args.batch_size, "memory_epochs": 1,
           "growth_epochs": args.growth_epochs, "global_epochs": args.global_epochs,
           "global_patience": args.global_patience,
           "module_params": {"conv1d": args.conv1d_params} if args.conv1d_params else {},
           "repeats": args.repeats}
    n, sizes = args.n_samples, args.sizes
    training_args = ["--n-samples", "4000"]
    if args.quick:
        n, sizes = 600, [300, 600]
        cfg.update(growth_epochs=2, global_epochs=3, global_patience=2)
        training_args = ["--quick"]
    if args.threads:
        training_args += ["--threads", str(args.threads)]

    import torch

    print(f"# bench_scale: {n:,} spectra x 4,200 points (0.5 nm), torch threads "
          f"{args.threads or torch.get_num_threads()}, device {args.device}, "
          f"precision {args.precision}, batch {args.batch_size}"
          f"{' (--quick: tiny networks, figures mean nothing)' if args.quick else ''}")
    if "memory" in args.sections:
        section_memory(n, cfg)
    if "transformers" in args.sections:
        print("\n## Transformers\n")
        load_sibling("bench_transformers").main(
            ["--n-samples", str(n), "--repeats", "1" if args.quick else "3"])
    if "training" in args.sections:
        print("\n## Training and prediction: estimator vs bare torch loop\n")
        load_sibling("bench_training").main(training_args)
    if "growth" in args.sections:
        section_growth(sizes, cfg, args.growth_architectures)
    if "global" in args.sections:
        section_global(n, cfg, args.global_architectures)
    if "inference" in args.sections:
        section_inference(n, cfg, args.inference_architectures)
    if "lucas-predict" in args.sections:
        if args.threads:
            torch.set_num_threads(args.threads)
        section_lucas_predict(n, cfg)


if __name__ == "__main__":
    main()
