"""Batches straight from tensors: the library is converted once, never per epoch."""

import torch
from torch.utils.data import Dataset

__all__ = ["TensorRows", "TensorBatchLoader"]


class TensorRows(Dataset):
    """A view on rows of shared float32 tensors (no copy of the library).

    Parameters
    ----------
    X : Tensor of shape (n_samples, ...)
    Y : Tensor of shape (n_samples, n_targets) or None
    rows : Tensor of int64 or None
        Rows of ``X``/``Y`` in this view; all rows when None.
    """

    def __init__(self, X, Y=None, rows=None):
        self.X = X
        self.Y = Y
        self.rows = torch.arange(X.shape[0]) if rows is None else torch.as_tensor(rows)

    def __len__(self):
        return int(self.rows.shape[0])

    def __getitem__(self, i):
        r = self.rows[i]
        return self.X[r], (self.Y[r] if self.Y is not None else torch.zeros(0))


class TensorBatchLoader:
    """Iterate over a :class:`TensorRows` in batches gathered by one index op.

    A drop-in for skorch's ``iterator_train`` / ``iterator_valid``: a
    ``DataLoader`` would index and collate sample by sample, which costs more
    than the forward pass of a small CNN on spectra. Shuffling draws from
    torch's global generator, which the estimator seeds for each ``fit``.
    """

    def __init__(self, dataset, batch_size=32, shuffle=False, drop_last=False):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        ds = self.dataset
        if not isinstance(ds, TensorRows):
            # Plain datasets (skorch wraps prediction inputs itself) go through
            # torch's loader.
            yield from torch.utils.data.DataLoader(ds, batch_size=self.batch_size)
            return
        rows = ds.rows
        if self.shuffle:
            rows = rows[torch.randperm(rows.shape[0])]
        for b in range(len(self)):
            idx = rows[b * self.batch_size : (b + 1) * self.batch_size]
            yield ds.X[idx], (ds.Y[idx] if ds.Y is not None else torch.zeros(0))
