"""Ensembles over members that each get the whole NaN-aware target table.

Soil libraries measure each property on some of the samples only, so ``y``
holds NaN where a property was not measured. The meta-estimators here hand
that ``y`` whole to every member (each masks what it does not know) and
combine the members property by property:

* :class:`BlendRegressor`: weighted averages, fixed or chosen on
  out-of-fold predictions;
* :class:`SelectorRegressor`: per property, the member with the lowest
  out-of-fold RMSE (transfer vs local vs source, one preprocessing or
  another);
* :class:`SeedEnsembleRegressor`: one model trained with several seeds;
* :class:`CrossFittedRegressor`: the mean of one model's fold models.

They share :func:`cross_fit`, which makes the out-of-fold predictions,
keeps the fold models and warns (:class:`~sklearn.exceptions.FitFailedWarning`)
about fold fits that fail. Metadata such as the domain labels ``groups``
reach the members that request them when scikit-learn's metadata routing is
enabled (``sklearn.set_config(enable_metadata_routing=True)``), and every
member otherwise. Nothing here imports torch.
"""

from ._base import CrossFitResult, cross_fit
from ._blend import BlendRegressor
from ._crossfit import CrossFittedRegressor
from ._seed import SeedEnsembleRegressor
from ._select import SelectorRegressor

__all__ = [
    "BlendRegressor",
    "CrossFitResult",
    "CrossFittedRegressor",
    "SeedEnsembleRegressor",
    "SelectorRegressor",
    "cross_fit",
]
