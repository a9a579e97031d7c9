"""Memory-based learning speed: queries per second against libraries of 1k-20k spectra.

Synthetic vis-NIR-like spectra (smooth Gaussian absorption bands, 200
wavelengths) with a property that depends on the band depths. Prints, per
library size, MemoryBasedRegressor fit and predict times and queries/s, the
same for a global PLSRegressionCV beside it, and (``--compare-sklearn``) the
time of fitting one sklearn PLSRegression per query instead of the batched
NIPALS, measured on a subset of queries and scaled to all of them.

    python benchmarks/bench_mbl.py            # 1k, 5k, 20k; 1,000 queries
    python benchmarks/bench_mbl.py --quick    # small sizes, checks it runs
"""

import argparse
import time

import numpy as np
from sklearn.cross_decomposition import PLSRegression

from sklearn_soilspec.baselines import MemoryBasedRegressor, PLSRegressionCV


def make_library(n, n_wavelengths=200, n_bands=12, seed=0):
    rng = np.random.default_rng(seed)
    axis = np.linspace(0.0, 1.0, n_wavelengths)
    centres = rng.uniform(0.05, 0.95, n_bands)
    widths = rng.uniform(0.02, 0.1, n_bands)
    bands = np.exp(-0.5 * ((axis[None, :] - centres[:, None]) / widths[:, None]) ** 2)
    depth = rng.gamma(2.0, 0.5, size=(n, n_bands))
    baseline = rng.normal(0.5, 0.1, size=(n, 1)) + rng.normal(0, 0.05, (n, 1)) * axis
    X = baseline + depth @ bands + 0.002 * rng.normal(size=(n, n_wavelengths))
    # A property that is locally linear but globally not (as OC across soils).
    y = depth[:, 0] * (1 + depth[:, 1]) + 0.3 * np.sin(3 * depth[:, 2]) + 0.05 * rng.normal(size=n)
    return X, y


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to check it runs")
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--queries", type=int, default=None)
    parser.add_argument("--neighbors", type=int, default=100)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--compare-sklearn", action="store_true",
                        help="also time one sklearn PLSRegression per query")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([500, 1000] if args.quick else [1000, 5000, 20000])
    n_queries = args.queries or (100 if args.quick else 1000)

    # Queries and libraries come from one draw: the same bands, new samples.
    X_all, y_all = make_library(max(sizes) + n_queries, seed=0)
    Xq, yq = X_all[-n_queries:], y_all[-n_queries:]
    header = (f"{'library':>8} {'mbl fit s':>10} {'mbl predict s':>14} {'queries/s':>10} "
              f"{'mbl rmse':>9} {'pls fit s':>10} {'pls predict s':>14} {'pls rmse':>9}")
    print(f"{n_queries} queries, {Xq.shape[1]} wavelengths, k={args.neighbors}, "
          f"n_jobs={args.n_jobs}")
    print(header)
    for n in sizes:
        X, y = X_all[:n], y_all[:n]
        mbl = MemoryBasedRegressor(n_neighbors=args.neighbors, n_jobs=args.n_jobs)
        _, t_fit = timed(lambda: mbl.fit(X, y))
        pred, t_pred = timed(lambda: mbl.predict(Xq))
        pls = PLSRegressionCV(max_components=20, random_state=0)
        _, t_pls_fit = timed(lambda: pls.fit(X, y))
        pls_pred, t_pls_pred = timed(lambda: pls.predict(Xq))
        rmse = np.sqrt(np.mean((pred - yq) ** 2))
        pls_rmse = np.sqrt(np.mean((pls_pred - yq) ** 2))
        print(f"{n:>8} {t_fit:>10.2f} {t_pred:>14.2f} {n_queries / t_pred:>10.0f} "
              f"{rmse:>9.3f} {t_pls_fit:>10.2f} {t_pls_pred:>14.3f} {pls_rmse:>9.3f}")
        if args.compare_sklearn:
            subset = min(n_queries, 50)
            nn = mbl._indexes[mbl._target_index[0]][1]
            idx = nn.kneighbors(mbl._embed(Xq[:subset]), n_neighbors=args.neighbors,
                                return_distance=False)

            def loop():
                return [PLSRegression(15, scale=False).fit(X[i], y[i]).predict(q[None])
                        for i, q in zip(idx, Xq[:subset])]

            _, t_loop = timed(loop)
            print(f"{'':>8} sklearn PLSRegression per query: {t_loop / subset * n_queries:.2f} s "
                  f"for {n_queries} queries (measured on {subset})")


if __name__ == "__main__":
    main()
