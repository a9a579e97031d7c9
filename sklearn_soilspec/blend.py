"""Deprecated: :class:`BlendRegressor` moved to :mod:`sklearn_soilspec.ensemble`.

``from sklearn_soilspec.blend import BlendRegressor`` still works for one
release and warns (FutureWarning); import it from
:mod:`sklearn_soilspec.ensemble` instead.
"""

import warnings

import numpy as np

# Nothing public is left here; the old name resolves through __getattr__.
__all__ = []


def __getattr__(name):
    if name == "BlendRegressor":
        warnings.warn(
            "sklearn_soilspec.blend.BlendRegressor has moved to sklearn_soilspec.ensemble; "
            "import it with `from sklearn_soilspec.ensemble import BlendRegressor` (the old "
            "module will be removed in a future release).",
            FutureWarning,
            stacklevel=2,
        )
        from .ensemble import BlendRegressor

        return BlendRegressor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _FoldMean:
    """Kept so that blends pickled before the move still load and predict."""

    def __init__(self, estimators):
        self.estimators_ = list(estimators)

    def predict(self, X):
        return np.mean([np.asarray(e.predict(X), dtype=np.float64) for e in self.estimators_],
                       axis=0)

    def __repr__(self):
        return f"cross-fitted({len(self.estimators_)} x {type(self.estimators_[0]).__name__})"
