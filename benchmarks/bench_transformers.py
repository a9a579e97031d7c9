"""Throughput of the spectral transformers on a LUCAS-size library.

Synthetic float32 spectra, 400-2499.5 nm every 0.5 nm (4,200 points), made
with numpy directly. Prints a markdown table of spectra per second.

    python benchmarks/bench_transformers.py              # 20,000 spectra
    python benchmarks/bench_transformers.py --quick      # small smoke run
"""

import argparse
import time

import numpy as np

from sklearn_soilspec.preprocessing import (
    MSC,
    SNV,
    Absorbance,
    ContinuumRemoval,
    Detrend,
    SavitzkyGolay,
    Spectrogram,
    WavelengthResampler,
    format_wavelengths,
)


def make_library(n_samples, seed=0):
    """Smooth reflectance-like spectra in percent, float32, with an axis."""
    rng = np.random.default_rng(seed)
    wl = np.arange(400.0, 2500.0, 0.5)
    t = (wl - wl[0]) / (wl[-1] - wl[0])
    X = np.empty((n_samples, wl.size), dtype=np.float32)
    base = 20.0 + 25.0 * np.sqrt(t)
    bands = np.exp(-0.5 * ((wl - 1400.0) / 30.0) ** 2) + np.exp(-0.5 * ((wl - 1900.0) / 40.0) ** 2)
    for start in range(0, n_samples, 4096):
        n = min(4096, n_samples - start)
        scale = rng.uniform(0.5, 1.5, size=(n, 1))
        depth = rng.uniform(2.0, 10.0, size=(n, 1))
        noise = rng.normal(0.0, 0.05, size=(n, wl.size))
        X[start : start + n] = scale * (base - depth * bands) + noise
    return X, wl


def transformers(wl):
    return {
        "Absorbance": Absorbance(wavelengths=wl),
        "WavelengthResampler (linear, 2 nm)": WavelengthResampler(
            target=(400, 2498, 2), wavelengths=wl
        ),
        "WavelengthResampler (cubic, 2 nm)": WavelengthResampler(
            target=(400, 2498, 2), kind="cubic", wavelengths=wl
        ),
        "SavitzkyGolay (11, 2, deriv 1)": SavitzkyGolay(deriv=1, wavelengths=wl),
        "SNV": SNV(wavelengths=wl),
        "MSC": MSC(wavelengths=wl),
        "Detrend (order 2)": Detrend(wavelengths=wl),
        "ContinuumRemoval": ContinuumRemoval(wavelengths=wl),
        "Spectrogram (hann, 100/50)": Spectrogram(wavelengths=wl),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--quick", action="store_true", help="500 spectra, one run")
    args = parser.parse_args(argv)
    n_samples, repeats = (500, 1) if args.quick else (args.n_samples, args.repeats)

    X, wl = make_library(n_samples)
    first, last = format_wavelengths(wl[[0, -1]])
    print(f"{n_samples} spectra x {wl.size} wavelengths ({first}-{last} nm, 0.5 nm), float32\n")
    print("| transformer | output shape | output dtype | fit+transform s | spectra/s |")
    print("|---|---|---|---:|---:|")
    for name, tr in transformers(wl).items():
        best = np.inf
        for _ in range(repeats):
            start = time.perf_counter()
            out = tr.fit(X).transform(X)
            best = min(best, time.perf_counter() - start)
        print(
            f"| {name} | {out.shape[0]} x {np.prod(out.shape[1:])} | {out.dtype} "
            f"| {best:.3f} | {n_samples / best:,.0f} |"
        )
        del out


if __name__ == "__main__":
    main()
