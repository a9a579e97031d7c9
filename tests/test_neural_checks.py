"""scikit-learn's common estimator checks for the neural regressor and the transfer guard."""

import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_soilspec.neural import SpectralCNNRegressor
from sklearn_soilspec.transfer import TransferSelector

torch.set_num_threads(1)

# A network small and short enough for the ~50 fits the common checks make.
TINY = dict(
    module_params={"channels": (2,), "kernel_size": 3, "shared_units": (4,), "head_units": 4},
    max_epochs=2,
    batch_size=16,
    random_state=0,
)


@parametrize_with_checks(
    [SpectralCNNRegressor(**TINY), TransferSelector(SpectralCNNRegressor(**TINY), random_state=0)]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
