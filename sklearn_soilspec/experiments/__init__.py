"""The localisation experiment: global vs local vs transfer, with its report.

:class:`LocalisationExperiment` runs the protocol of Padarian, Minasny &
McBratney (2019) on any multi-domain library; :class:`ExperimentResult` holds
the tidy tables, the summary, and writes CSV files, plots and ``report.md``.
"""

from ._metrics import bias, lins_ccc, r2, regression_scores, rmse, rpiq
from ._models import default_models
from ._per_target import PerTargetRegressor
from ._report import plot_learning_curves, plot_observed_predicted, plot_rmse_bars, write_report
from ._result import ExperimentResult
from ._runner import LocalisationExperiment
from ._significance import paired_rmse_test
from ._spec import ModelSpec

__all__ = [
    "ExperimentResult",
    "LocalisationExperiment",
    "ModelSpec",
    "PerTargetRegressor",
    "bias",
    "default_models",
    "lins_ccc",
    "paired_rmse_test",
    "plot_learning_curves",
    "plot_observed_predicted",
    "plot_rmse_bars",
    "r2",
    "regression_scores",
    "rmse",
    "rpiq",
    "write_report",
]
