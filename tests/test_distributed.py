"""Beyond one machine: Hugging Face Accelerate for one big model, dask for many small fits.

The experiment runner over dask (domains in parallel) is tested in
test_experiments.py; here grid-search candidates are spread instead.
"""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline

from sklearn_soilspec.neural import SpectralCNNRegressor
from sklearn_soilspec.preprocessing import SNV

torch.set_num_threads(1)

TINY = {"channels": (4,), "shared_units": (8,), "head_units": 8}


class StubAccelerator:
    """Enough of ``accelerate.Accelerator`` for parameter validation."""

    def prepare(self, obj):
        return obj

    def autocast(self):
        raise AssertionError("never reached")


@pytest.mark.parametrize("extra", [
    pytest.param({"device": "cuda"}, marks=pytest.mark.skipif(
        not torch.cuda.is_available(), reason="needs a CUDA device")),
    {"precision": "bf16"},
])
def test_accelerator_owns_placement_and_precision(extra):
    model = SpectralCNNRegressor(module_params=TINY, max_epochs=1,
                                 accelerator=StubAccelerator(), **extra)
    with pytest.raises(ValueError, match="Accelerator\\(mixed_precision='bf16'\\)"):
        model.fit(np.random.default_rng(0).normal(size=(20, 16)), np.arange(20.0))


def test_clone_shares_the_accelerator():
    acc = StubAccelerator()
    assert clone(SpectralCNNRegressor(accelerator=acc)).accelerator is acc


def test_accelerator_is_validated():
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="'accelerator' parameter"):
        SpectralCNNRegressor(accelerator="cuda").fit(np.ones((4, 8)), np.arange(4.0))


@pytest.fixture(scope="module")
def vnir():
    from LimeSoDa import load_dataset

    data = load_dataset("SSP.460")["Dataset"]
    spectra = data.filter(regex=r"^wl_").to_numpy(np.float32)
    targets = data[["SOC_target", "pH_target", "Clay_target"]].to_numpy(np.float64)
    return spectra[:, ::4].copy(), targets


@pytest.mark.slow
def test_accelerate_training_on_cpu(vnir):
    accelerate = pytest.importorskip("accelerate")
    X, Y = vnir
    acc = accelerate.Accelerator(cpu=True)
    model = make_pipeline(SNV(), SpectralCNNRegressor(
        module_params=TINY, max_epochs=8, lr=3e-3, patience=None, accelerator=acc,
        random_state=0)).fit(X, Y)
    net = model[-1].net_
    assert type(net).__name__ == "_AcceleratedSoilNet" and net.accelerator is acc
    losses = model[-1].history_[:, "train_loss"]
    assert len(losses) == 8 and losses[-1] < losses[0]
    pred = model.predict(X)
    assert pred.shape == Y.shape and np.isfinite(pred).all()
    # Unwrapped after training, so the fitted pipeline pickles like any other.
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(again.predict(X), pred)


def _train_in_each_process():
    import accelerate
    from LimeSoDa import load_dataset

    from accelerate.state import AcceleratorState

    # A forked worker inherits the parent's single-process state.
    AcceleratorState._reset_state(reset_partial_state=True)
    acc = accelerate.Accelerator(cpu=True)
    data = load_dataset("SSP.460")["Dataset"]
    X = data.filter(regex=r"^wl_").to_numpy(np.float32)[:, ::4].copy()
    Y = data[["SOC_target", "pH_target"]].to_numpy(np.float64)
    model = SpectralCNNRegressor(module_params=TINY, max_epochs=2, batch_size=32,
                                 accelerator=acc, random_state=0).fit(X, Y)
    assert acc.num_processes == 2
    # Each process saw its shard of every batch, and validation gathered all.
    assert np.isfinite(model.history_[:, "valid_loss"]).all()
    assert model.predict(X).shape == Y.shape


@pytest.mark.slow
def test_accelerate_data_parallel_over_two_cpu_processes():
    accelerate = pytest.importorskip("accelerate")
    accelerate.debug_launcher(_train_in_each_process, num_processes=2)


@pytest.mark.slow
def test_grid_search_candidates_spread_over_a_dask_cluster(vnir):
    distributed = pytest.importorskip("distributed")
    import joblib

    X, Y = vnir
    search = GridSearchCV(
        make_pipeline(SNV(), SpectralCNNRegressor(module_params=TINY, max_epochs=3,
                                                  random_state=0)),
        {"spectralcnnregressor__lr": [1e-3, 3e-3], "spectralcnnregressor__batch_size": [16, 64]},
        cv=KFold(3, shuffle=True, random_state=0), n_jobs=-1,
    )
    # Worker processes, not threads: torch's random generator is global to a
    # process, so two fits in threads of one process draw from each other's seed.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster, \
            distributed.Client(cluster), joblib.parallel_backend("dask"):
        search.fit(X, Y)
    assert len(search.cv_results_["mean_test_score"]) == 4
    serial = clone(search).set_params(n_jobs=None).fit(X, Y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               serial.cv_results_["mean_test_score"], rtol=1e-5)
