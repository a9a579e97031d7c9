"""Training and inference throughput of SpectralCNNRegressor vs a bare torch loop.

Both architectures (conv1d on spectra, spectrogram2d on their spectrograms)
at batch sizes 64 and 256 on CPU. The same network, loss and optimizer are
trained by the estimator (skorch, with its callbacks) and by a plain torch
loop in the same run; the ratio of their throughputs is skorch's overhead.
Synthetic data made with numpy. Prints a markdown table (spectra per second).

    python benchmarks/bench_training.py                 # 4,000 spectra, 5 epochs
    python benchmarks/bench_training.py --quick         # small smoke run
    python benchmarks/bench_training.py --threads 8     # torch intra-op threads
"""

import argparse
import time

import numpy as np
import torch

from sklearn_soilspec.neural import MaskedMultiTaskMSELoss, SpectralCNNRegressor
from sklearn_soilspec.preprocessing import Spectrogram


def make_data(n_samples, n_wavelengths, seed=0):
    """Smooth absorbance-like spectra with two bands whose depths are the targets."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(0.0, 1.0, n_wavelengths)
    depth = rng.uniform(0.0, 1.0, size=(n_samples, 2))
    bands = np.stack([np.exp(-0.5 * ((grid - c) / 0.03) ** 2) for c in (0.45, 0.75)])
    X = 0.3 + 0.2 * grid + depth @ bands + rng.normal(0.0, 0.01, size=(n_samples, n_wavelengths))
    return X.astype(np.float32), (depth * [3.0, 40.0]).astype(np.float32)


def estimator(architecture, batch_size, epochs, module_params):
    # No validation split, early stopping or schedule: every epoch sees all
    # spectra, as in the bare loop.
    return SpectralCNNRegressor(
        architecture=architecture, module_params=module_params, batch_size=batch_size,
        max_epochs=epochs, validation_fraction=None, patience=None, lr_schedule=None,
        random_state=0,
    )


def bare_training(module, X, Y, batch_size, epochs):
    """Seconds per epoch of a plain torch loop over the same tensors."""
    loss_fn = MaskedMultiTaskMSELoss()
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)
    X, Y = torch.as_tensor(X), torch.as_tensor(Y)
    module.train()
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(X.shape[0])
        for b in range(0, X.shape[0], batch_size):
            idx = order[b : b + batch_size]
            if idx.numel() < 2:  # batch norm needs two samples
                continue
            opt.zero_grad()
            loss_fn(module(X[idx]), Y[idx]).backward()
            opt.step()
        times.append(time.perf_counter() - start)
    return times


def bare_inference(module, X, batch_size):
    module.eval()
    X = torch.as_tensor(X)
    start = time.perf_counter()
    with torch.no_grad():
        for b in range(0, X.shape[0], batch_size):
            module(X[b : b + batch_size])
    return time.perf_counter() - start


def steady(times):
    # The first epoch pays for allocator warm-up in both loops.
    return float(np.mean(times[1:] if len(times) > 1 else times))


def _estimator_turn(arch, Xa, Y, bs, epochs, params, est_epoch, est_pred, *_):
    model = estimator(arch, bs, epochs, params).fit(Xa, Y)
    est_epoch.append(steady(model.history_[:, "dur"]))
    start = time.perf_counter()
    model.predict(Xa)
    est_pred.append(time.perf_counter() - start)


def _bare_turn(arch, Xa, Y, bs, epochs, params, _, __, bare_epoch, bare_pred):
    # The same architecture, freshly initialised, trained by hand on the
    # standardised inputs the estimator uses (its scalers come from a 0-epoch fit).
    scaler = estimator(arch, bs, 0, params).fit(Xa, Y)
    torch.manual_seed(0)
    module = type(scaler.net_.module_)(
        **({"n_features": Xa.shape[1]} if arch == "conv1d" else {"image_shape": Xa.shape[1:]}),
        target_names=scaler.target_names_, **params,
    )
    Xs = scaler._to_tensor(Xa.reshape(len(Xa), -1)).numpy()
    Ys = ((Y - scaler.y_mean_) / scaler.y_scale_).astype(np.float32)
    bare_epoch.append(steady(bare_training(module, Xs, Ys, bs, epochs)))
    bare_pred.append(bare_inference(module, Xs, bs))


def run(n_samples, n_wavelengths, epochs, batch_sizes, module_params, repeats=1):
    X, Y = make_data(n_samples, n_wavelengths)
    inputs = {
        "conv1d": X,
        "spectrogram2d": Spectrogram(flatten=False).fit_transform(X).astype(np.float32),
    }
    rows = []
    for arch, Xa in inputs.items():
        params = module_params[arch]
        for bs in batch_sizes:
            # Estimator and bare loop take turns, in alternating order, so that both
            # see the same drift of a shared machine (single epochs jitter by up to
            # 30 % here); medians over the turns are reported.
            est_epoch, est_pred, bare_epoch, bare_pred = [], [], [], []
            for turn in range(repeats):
                pair = (_estimator_turn, _bare_turn) if turn % 2 == 0 else (_bare_turn,
                                                                           _estimator_turn)
                for fn in pair:
                    fn(arch, Xa, Y, bs, epochs, params, est_epoch, est_pred, bare_epoch,
                       bare_pred)
            ratios = np.asarray(est_epoch) / np.asarray(bare_epoch)
            rows.append({
                "architecture": arch,
                "input": "x".join(map(str, Xa.shape[1:])),
                "batch": bs,
                "train_skorch": n_samples / np.median(est_epoch),
                "train_bare": n_samples / np.median(bare_epoch),
                "overhead": float(np.median(est_epoch) / np.median(bare_epoch)),
                "ratio_range": (float(ratios.min()), float(ratios.max())),
                "predict_skorch": n_samples / np.median(est_pred),
                "predict_bare": n_samples / np.median(bare_pred),
            })
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--n-samples", type=int, default=4000)
    parser.add_argument("--n-wavelengths", type=int, default=1051,
                        help="points per spectrum (1051 = 400-2500 nm every 2 nm)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--repeats", type=int, default=1,
                        help="turns of estimator and bare loop per setting (medians reported)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    module_params = {"conv1d": {}, "spectrogram2d": {}}  # the package defaults
    if args.quick:
        args.n_samples, args.n_wavelengths, args.epochs = 300, 301, 2
        module_params = {
            "conv1d": {"channels": (4, 8), "shared_units": (16,), "head_units": 8},
            "spectrogram2d": {"channels": ((4,), (8,)), "shared_units": (16,), "head_units": 8},
        }
    rows = run(args.n_samples, args.n_wavelengths, args.epochs, args.batch_sizes, module_params,
               args.repeats)
    print(f"{args.n_samples} spectra x {args.n_wavelengths} points, {args.epochs} epochs, "
          f"torch threads {torch.get_num_threads()}, device cpu, {args.repeats} turn(s) each "
          "(medians); spectra per second\n")
    print("| architecture | input | batch | train (estimator) | train (bare torch) | "
          "epoch time ratio | ratio per turn | predict (estimator) | predict (bare torch) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        lo, hi = r["ratio_range"]
        print(f"| {r['architecture']} | {r['input']} | {r['batch']} | {r['train_skorch']:.0f} | "
              f"{r['train_bare']:.0f} | {r['overhead']:.2f} | {lo:.2f} - {hi:.2f} "
              f"| {r['predict_skorch']:.0f} | {r['predict_bare']:.0f} |")


if __name__ == "__main__":
    main()
