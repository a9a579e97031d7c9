"""What the network is given: spectra or spectrograms, their axis, and the validation split."""

import re

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from .._fingerprints import row_fingerprints
from .._targets import check_targets

from ..preprocessing._axis import check_wavelength_grid, resolve_wavelengths
from ._data import TensorRows
from ._modules import check_image_shape

__all__ = ["SpectraInputMixin", "image_shape_from_names", "input_shape", "read_wavelengths",
           "validation_rows"]

_IMAGE_COLUMN = re.compile(r"f(\d+)_t(\d+)")


def image_shape_from_names(names):
    """(n_freq, n_time) from Spectrogram's ``f<i>_t<j>`` column names, if that is what they are."""
    if names is None:
        return None
    cells = [_IMAGE_COLUMN.fullmatch(str(n)) for n in names]
    if not all(cells):
        return None
    shape = (max(int(c.group(1)) for c in cells) + 1, max(int(c.group(2)) for c in cells) + 1)
    expected = [f"f{i}_t{j}" for i in range(shape[0]) for j in range(shape[1])]
    return shape if list(map(str, names)) == expected else None


def input_shape(architecture, image, image_shape, n_features, feature_names):
    """Shape of one sample as the network takes it; a clear error when it cannot be known."""
    if architecture == "conv1d":
        return (n_features,)
    if image is None and image_shape is None:
        image = image_shape_from_names(feature_names)
    if image is None:
        if image_shape is None:
            raise ValueError(
                "architecture='spectrogram2d' needs the spectrogram's shape: pass 3-D "
                "input (Spectrogram(flatten=False)) or set image_shape=(n_freq, n_time) "
                "for flat input."
            )
        image = check_image_shape(image_shape)
    if image[0] * image[1] != n_features:
        raise ValueError(
            f"image_shape={image} gives {image[0] * image[1]} values per spectrogram, "
            f"but X has {n_features} columns."
        )
    return check_image_shape(image)


def read_wavelengths(architecture, feature_names, n_features):
    """The spectral axis of the columns, or None when they are not wavelengths."""
    # Only spectra have a wavelength axis; spectrogram columns are
    # f<i>_t<j>, whose numbers are not wavelengths.
    if architecture != "conv1d" or feature_names is None:
        return None
    try:
        wl = resolve_wavelengths(feature_names=feature_names, n_features=n_features)
        check_wavelength_grid(wl)
    except ValueError:
        return None
    return wl


def validation_rows(n, validation_fraction, random_state):
    """(training rows, validation rows) of a shuffled split, both sorted."""
    n_valid = int(np.ceil(validation_fraction * n))
    if n - n_valid < 2:
        raise ValueError(
            f"Too few samples for a validation split: got {n} sample(s); "
            f"validation_fraction={validation_fraction} leaves {n - n_valid} for "
            "training (at least 2 needed). Provide more samples, validation_data, or "
            "validation_fraction=None."
        )
    order = check_random_state(random_state).permutation(n)
    # Sorted rows keep the data's order; shuffling per epoch is the loader's job.
    return np.sort(order[n_valid:]), np.sort(order[:n_valid])


class SpectraInputMixin:
    """Validation of the regressor's inputs and its training / validation split."""

    def _validate_X(self, X, reset):
        shape = np.shape(X) if hasattr(X, "shape") or isinstance(X, (list, tuple)) else None
        image = None
        if shape is not None and len(shape) == 3:
            if self.architecture != "spectrogram2d":
                raise ValueError(
                    f"Got 3-D input of shape {shape}: spectrograms need "
                    "architecture='spectrogram2d'; 'conv1d' takes 2-D spectra."
                )
            image = tuple(int(s) for s in shape[1:])
            if not reset and image != self.input_shape_:
                raise ValueError(
                    f"X holds spectrograms of {image[0]} x {image[1]} (n_freq x n_time), but "
                    f"this model was trained on {self.input_shape_[0]} x "
                    f"{self.input_shape_[1]}. Use the same Spectrogram settings and "
                    "wavelength grid as in training."
                )
            X = np.asarray(X).reshape(shape[0], -1)
        X = validate_data(
            self, X, reset=reset, dtype=[np.float64, np.float32], ensure_min_samples=1
        )
        if reset:
            self.input_shape_ = input_shape(self.architecture, image, self.image_shape,
                                            X.shape[1], getattr(self, "feature_names_in_", None))
            # Which spectra the network was trained on, as hashes: a
            # LocalisedRegressor told to localise it on some of them knows
            # its out-of-fold error there is in-sample.
            self.training_fingerprints_ = row_fingerprints(X)
        return X

    def _to_tensor(self, X):
        X = np.asarray(X, dtype=np.float32)
        if self.x_mean_ is not None:
            # In float32: the network computes in float32 anyway, and a float64
            # temporary of a large library costs more than the forward pass.
            X = X - np.asarray(self.x_mean_, dtype=np.float32)
            X /= np.asarray(self.x_scale_, dtype=np.float32)
        return torch.as_tensor(np.ascontiguousarray(X))

    def _split(self, X_t, Y_t, validation_data):
        """Training rows and the validation set (None without one)."""
        n = X_t.shape[0]
        if n < 2:
            # Batch norm cannot normalise a single spectrum.
            raise ValueError(f"Training needs at least 2 samples, got {n} sample(s).")
        if validation_data is not None:
            train, valid = TensorRows(X_t, Y_t), self._validation_set(validation_data)
        elif self.validation_fraction is None:
            return TensorRows(X_t, Y_t), None
        else:
            rows, held = validation_rows(n, self.validation_fraction, self.random_state)
            train, valid = TensorRows(X_t, Y_t, rows), TensorRows(X_t, Y_t, held)
        untrained = [t for t, ok in zip(self.target_names_,
                                        (~torch.isnan(train.Y[train.rows])).any(0)) if not ok]
        if untrained:
            raise ValueError(
                f"Target(s) {untrained} are measured only in the validation rows, so their "
                "heads would never be trained. Lower validation_fraction, pass "
                "validation_data, or drop them from y."
            )
        return train, valid

    def _validation_set(self, validation_data):
        try:
            X_val, y_val = validation_data
        except (TypeError, ValueError):
            raise ValueError("validation_data must be a pair (X_val, y_val).") from None
        X_val = self._validate_X(X_val, reset=False)
        names = getattr(y_val, "columns", None)
        if names is not None:
            names = [str(c) for c in names]
            missing = [t for t in self.target_names_ if t not in names]
            extra = [t for t in names if t not in self.target_names_]
            if missing or extra:
                raise ValueError(
                    f"validation_data's targets {names} are not the training targets "
                    f"{self.target_names_} (missing {missing}, unknown {extra})."
                )
            y_val = y_val[self.target_names_]  # matched by name, not position
        Y_val, val_names, _ = check_targets(y_val, X_val.shape[0], "validation_data",
                                            target_names=None)
        if len(val_names) != len(self.target_names_):
            raise ValueError(
                f"validation_data has {len(val_names)} target(s), the training data "
                f"{len(self.target_names_)}."
            )
        Y_val = ((Y_val - self.y_mean_) / self.y_scale_).astype(np.float32)
        return TensorRows(self._to_tensor(X_val), torch.as_tensor(Y_val))


def training_summary(groups, n_samples):
    """The samples per domain of ``groups`` (empty without groups)."""
    if groups is None:
        return {}
    groups = np.asarray(groups).ravel()
    if groups.shape[0] != n_samples:
        raise ValueError(f"groups has {groups.shape[0]} labels for {n_samples} samples.")
    labels, counts = np.unique(groups.astype(str), return_counts=True)
    return {"domains": dict(zip(labels.tolist(), counts.tolist()))}
