"""Multi-task CNNs for spectra (1-D) and spectrograms (2-D).

Both networks share one layout, so transfer learning can address layers by
name whatever the architecture:

``features``
    An ``nn.Sequential`` of convolution blocks; ``features[k]`` is block k, so
    freezing "the first k blocks" means ``features[:k]``.
``shared``
    The dense trunk every property uses.
``heads``
    An ``nn.ModuleDict`` with one small regressor per soil property, keyed by
    the property name.

The 2-D network follows Padarian, Minasny & McBratney (2019, Geoderma Regional
16, e00198; reused for transfer in Geoderma 340, 279-288): Conv2D 32 -> 2 x
Conv2D 64 -> 2 x Conv2D 128 (3 x 3), each stage batch norm + ReLU + 2 x 2
max-pool, dropout 0.4 and one dense head per property.
"""

import torch
from torch import nn

__all__ = ["SpectralConv1d", "SpectrogramConv2d", "make_head"]


def make_head(in_features, units=100, dropout=0.2):
    """One property's head: Dense(units) ReLU -> BatchNorm -> Dropout -> Dense 1."""
    return nn.Sequential(
        nn.Linear(in_features, units),
        nn.ReLU(),
        nn.BatchNorm1d(units),
        nn.Dropout(dropout),
        nn.Linear(units, 1),
    )


def _pool_size(size):
    # Halve a dimension only while it still has two cells to merge: a 251-point
    # spectrum gives a ~51 x 4 spectrogram, whose time axis runs out after two
    # 2 x 2 pools while the frequency axis can take all three.
    return 2 if size >= 2 else 1


def _make_trunk(in_features, units, dropout):
    layers = [nn.Flatten(), nn.Dropout(dropout)]
    for n in units:
        layers += [nn.Linear(in_features, n), nn.ReLU()]
        in_features = n
    return nn.Sequential(*layers), in_features


class _MultiTaskNet(nn.Module):
    """features -> shared -> one head per target; output (n, n_targets)."""

    def _finish(self, flat_features, target_names, shared_units, dropout, head_units,
                head_dropout):
        self.shared, trunk_out = _make_trunk(flat_features, tuple(shared_units), dropout)
        self.trunk_features = trunk_out
        self.head_units = head_units
        self.head_dropout = head_dropout
        self.target_names = list(target_names)
        self.heads = nn.ModuleDict(
            {name: make_head(trunk_out, head_units, head_dropout) for name in self.target_names}
        )

    def new_head(self):
        """A freshly initialised head fitting this trunk."""
        return make_head(self.trunk_features, self.head_units, self.head_dropout)

    def forward(self, X):
        z = self.shared(self.features(self._as_image(X)))
        return torch.cat([self.heads[name](z) for name in self.target_names], dim=1)


class SpectralConv1d(_MultiTaskNet):
    """Multi-task 1-D CNN on spectra.

    Parameters
    ----------
    n_features : int
        Number of wavelengths of the input spectra.
    target_names : list of str
        One head per name.
    channels : sequence of int, default=(16, 32, 64)
        Output channels of each convolution block (conv -> BN -> ReLU -> pool).
    kernel_size : int, default=7
        Width of the convolution kernels, in wavelengths.
    shared_units : sequence of int, default=(128,)
        Widths of the dense layers of the shared trunk.
    dropout : float, default=0.4
        Dropout before the shared trunk.
    head_units : int, default=100
        Width of each property's hidden layer.
    head_dropout : float, default=0.2
        Dropout inside each head.

    Examples
    --------
    >>> import torch
    >>> from sklearn_soilspec.neural import SpectralConv1d
    >>> net = SpectralConv1d(200, ["OC", "clay"], channels=(8, 16)).eval()
    >>> net(torch.randn(5, 200)).shape
    torch.Size([5, 2])
    >>> len(net.features), list(net.heads)
    (2, ['OC', 'clay'])
    """

    def __init__(self, n_features, target_names, channels=(16, 32, 64), kernel_size=7,
                 shared_units=(128,), dropout=0.4, head_units=100, head_dropout=0.2):
        super().__init__()
        if n_features < 1:
            raise ValueError(f"A spectrum needs at least one wavelength, got {n_features}.")
        blocks, length, c_in = [], n_features, 1
        for c_out in channels:
            pool = _pool_size(length)
            blocks.append(
                nn.Sequential(
                    nn.Conv1d(c_in, c_out, kernel_size, padding=kernel_size // 2),
                    nn.BatchNorm1d(c_out),
                    nn.ReLU(),
                    nn.MaxPool1d(pool),
                )
            )
            # An even kernel with padding k//2 adds one position before pooling.
            length = (length + 2 * (kernel_size // 2) - kernel_size + 1) // pool
            c_in = c_out
        self.features = nn.Sequential(*blocks)
        self._finish(c_in * length, target_names, shared_units, dropout, head_units,
                     head_dropout)

    @staticmethod
    def _as_image(X):
        return X.unsqueeze(1) if X.dim() == 2 else X


class SpectrogramConv2d(_MultiTaskNet):
    """Multi-task 2-D CNN on spectrograms (Padarian et al. 2019).

    Parameters
    ----------
    image_shape : tuple of int
        ``(n_freq, n_time)`` of the input spectrograms; flat inputs of
        ``n_freq * n_time`` columns (C order) are reshaped.
    target_names : list of str
        One head per name.
    channels : sequence of sequence of int, default=((32,), (64, 64), (128, 128))
        Convolution stages; each inner sequence lists the 3 x 3 convolutions
        of a stage (each followed by BN + ReLU); a stage ends with a 2 x 2
        max-pool along every dimension that still has two cells.
    shared_units : sequence of int, default=(128,)
        Widths of the dense layers of the shared trunk.
    dropout : float, default=0.4
        Dropout after the convolutions.
    head_units : int, default=100
        Width of each property's hidden layer.
    head_dropout : float, default=0.2
        Dropout inside each head.

    Examples
    --------
    A 251-point spectrum with the default spectrogram window gives 51 x 4
    images: the time axis is pooled twice, the frequency axis three times.

    >>> import torch
    >>> from sklearn_soilspec.neural import SpectrogramConv2d
    >>> net = SpectrogramConv2d((51, 4), ["OC", "pH"]).eval()
    >>> net(torch.randn(5, 51 * 4)).shape
    torch.Size([5, 2])
    >>> [m.kernel_size for m in net.modules() if isinstance(m, torch.nn.MaxPool2d)]
    [(2, 2), (2, 2), (2, 1)]
    """

    def __init__(self, image_shape, target_names, channels=((32,), (64, 64), (128, 128)),
                 shared_units=(128,), dropout=0.4, head_units=100, head_dropout=0.2):
        super().__init__()
        height, width = check_image_shape(image_shape)
        self.image_shape = (height, width)
        blocks, c_in = [], 1
        for stage in channels:
            stage = (stage,) if isinstance(stage, int) else tuple(stage)
            layers = []
            for c_out in stage:
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
                c_in = c_out
            pool = (_pool_size(height), _pool_size(width))
            layers.append(nn.MaxPool2d(pool))
            height, width = height // pool[0], width // pool[1]
            blocks.append(nn.Sequential(*layers))
        self.features = nn.Sequential(*blocks)
        self._finish(c_in * height * width, target_names, shared_units, dropout, head_units,
                     head_dropout)

    def _as_image(self, X):
        if X.dim() == 2:
            return X.reshape(X.shape[0], 1, *self.image_shape)
        if X.dim() == 3:
            return X.unsqueeze(1)
        return X


def check_image_shape(image_shape):
    """Validate a spectrogram's ``(n_freq, n_time)``; say what to change if unusable."""
    try:
        height, width = (int(s) for s in image_shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"image_shape must be a pair (n_freq, n_time), got {image_shape!r}."
        ) from None
    if height < 2 or width < 2:
        raise ValueError(
            f"A spectrogram of {height} x {width} (n_freq x n_time) is too small for the "
            "2-D network: it needs at least 2 frequency bins and 2 time windows. Use a finer "
            "wavelength grid or a smaller window (Spectrogram(nperseg=...)), or the 'conv1d' "
            "architecture on the spectra themselves."
        )
    return height, width



ARCHITECTURES = {"conv1d": SpectralConv1d, "spectrogram2d": SpectrogramConv2d}


def module_config(architecture, module_params=None):
    """The network's constructor arguments, defaults filled in, tuples as lists.

    Two networks with equal configurations (and input shape and targets) have
    state dicts of the same shapes, which is what a warm start needs.

    Raises
    ------
    ValueError
        For an unknown architecture or a ``module_params`` key the network
        does not take.
    """
    import inspect

    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"Unknown architecture {architecture!r}; choose one of {sorted(ARCHITECTURES)}."
        )
    cls = ARCHITECTURES[architecture]
    signature = inspect.signature(cls).parameters
    accepted = set(signature) - {"n_features", "image_shape", "target_names"}
    params = dict(module_params or {})
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ValueError(
            f"module_params has unknown key(s) {unknown} for architecture="
            f"{architecture!r}; accepted: {sorted(accepted)}."
        )
    config = {k: p.default for k, p in signature.items() if k in accepted}
    config.update(params)
    config = {k: _as_lists(v) for k, v in config.items()}
    for key in ("channels", "shared_units", "head_units", "kernel_size"):
        if key in config:
            sizes = _flat(config[key])
            if not sizes or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                                    for v in sizes):
                raise ValueError(
                    f"module_params[{key!r}]={config[key]!r}: every channel, unit and kernel "
                    "count must be a positive int.")
    for key in ("dropout", "head_dropout"):
        if key in config and not (isinstance(config[key], (int, float))
                                  and 0 <= config[key] < 1):
            raise ValueError(f"module_params[{key!r}]={config[key]!r} must be in [0, 1).")
    return config


def _flat(value):
    return [w for v in value for w in _flat(v)] if isinstance(value, list) else [value]


def build_module(architecture, input_shape, target_names, config):
    """A freshly initialised network for ``input_shape`` and ``target_names``."""
    cls = ARCHITECTURES[architecture]
    params = {k: tuple(map(_as_tuples, v)) if isinstance(v, list) else v
              for k, v in config.items()}
    shape = ({"n_features": int(input_shape[0])} if architecture == "conv1d"
             else {"image_shape": tuple(input_shape)})
    return cls(target_names=list(target_names), **shape, **params)


def _as_lists(value):
    if isinstance(value, (tuple, list)):
        return [_as_lists(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _as_tuples(value):
    return tuple(map(_as_tuples, value)) if isinstance(value, list) else value
