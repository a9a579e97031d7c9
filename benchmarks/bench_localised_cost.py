"""What a user waits for: LocalisedRegressor.fit on ~100 local vis-NIR spectra, per candidate.

The local site is LimeSoDa UL.120 (its first ``--n-local`` samples), the
library and the source model the other seven vis-NIR sites (the source:
``train_source_model(fast=True)``, trained once and kept in ``--cache``).
Only times are measured here; no test fold is scored.

For every ``--n-jobs`` it prints the wall time of ``fit`` and the CPU time
of this process and its workers; with ``--per-member`` (sequential) the
CPU seconds of each candidate's fold fits and out-of-fold predictions.
On a shared machine the CPU seconds are the figure to compare: wall time
grows with the load, CPU time much less.

    OMP_NUM_THREADS=1 python benchmarks/bench_localised_cost.py --n-jobs 1 2 --per-member
"""

import argparse
import os
import resource
import time
from collections import defaultdict

import joblib
import numpy as np


def _cpu():
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def _pid_cpu():
    return os.getpid(), _cpu()


def _worker_cpu():
    # loky keeps its workers alive between calls: ask each for its clock.
    clocks = {}
    for pid, cpu in joblib.Parallel(n_jobs=-1)(joblib.delayed(_pid_cpu)() for _ in range(32)):
        clocks[pid] = max(cpu, clocks.get(pid, 0.0))
    return sum(clocks.values())


def _source(glob, cache):
    from sklearn_soilspec.localised import train_source_model

    if cache and os.path.exists(cache):
        return joblib.load(cache)
    t = time.perf_counter()
    model = train_source_model(glob, fast=True, random_state=0)
    print(f"source trained in {time.perf_counter() - t:.1f} s", flush=True)
    if cache:
        joblib.dump(model, cache)
    return model


def _member_clock():
    """Patch the candidates' fit and predict to add up their CPU seconds by name."""
    from sklearn_soilspec.localised import _members

    spent = defaultdict(float)
    names = {"SourceMember": "source", "CorrectedSourceMember": "source_corrected",
             "FineTunedMember": "fine_tuned", "MeanMember": "mean"}

    def key(member):
        name = names.get(type(member).__name__)
        if name:
            return name
        last = member.estimator.steps[-1][1]
        deriv = getattr(member.estimator.steps[0][1], "deriv", 1)
        kind = type(last).__name__
        return {"PLSRegressionCV": "plsr", "MemoryBasedRegressor": "mbl",
                "SpikedRegressor": "spiked_plsr"}.get(
            kind, "gpr" if deriv == 1 else "gpr_d2")

    def wrap(method):
        def timed(self, *args, **kwargs):
            t = time.process_time()
            try:
                return method(self, *args, **kwargs)
            finally:
                spent[key(self)] += time.process_time() - t
        return timed

    # Every candidate fits and predicts through the base class.
    for method in ("fit", "predict"):
        setattr(_members.Member, method, wrap(getattr(_members.Member, method)))
    return spent


def main():
    from sklearn_soilspec.datasets import load_limesoda_spectra
    from sklearn_soilspec.localised import LocalisedRegressor

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-local", type=int, default=100)
    parser.add_argument("--n-jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--per-member", action="store_true")
    parser.add_argument("--cache", default="ul120_source.joblib")
    args = parser.parse_args()

    lib = load_limesoda_spectra("visnir").as_frame()
    is_local = np.asarray(lib.groups) == "UL.120"
    local, glob = lib.subset(is_local), lib.subset(~is_local)
    X, Y = local.X.iloc[:args.n_local], local.Y.iloc[:args.n_local]
    source = _source(glob, args.cache)
    print(f"local {len(X)} spectra, library {len(glob)}; load {os.getloadavg()}", flush=True)
    spent = _member_clock() if args.per_member else None
    for n_jobs in args.n_jobs:
        if n_jobs != 1:
            _worker_cpu()  # start the workers before the clock
        cpu0 = _cpu() + (_worker_cpu() if n_jobs != 1 else 0.0)
        t = time.perf_counter()
        model = LocalisedRegressor(source, library=glob, n_jobs=n_jobs).fit(X, Y)
        wall = time.perf_counter() - t
        cpu = _cpu() + (_worker_cpu() if n_jobs != 1 else 0.0) - cpu0
        print(f"n_jobs={n_jobs}: fit {wall:.1f} s wall, {cpu:.1f} s CPU "
              f"(load {os.getloadavg()[0]:.1f}); options: "
              + ", ".join(model.localisation_report_.query("candidate == 'localised'")
                          ["option"].tolist()), flush=True)
        if spent and n_jobs == 1:
            for name, sec in sorted(spent.items(), key=lambda kv: -kv[1]):
                print(f"  {name}: {sec:.1f} s CPU (fold fits, predictions, refit)")


if __name__ == "__main__":
    main()
