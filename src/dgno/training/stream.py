"""Training arrays read from an HDF5 split file batch by batch, for sets larger than memory.

:class:`H5Rows` stands in for the (N, ...) tensor of one array of a split file (``a`` or ``u`` of train.h5):
``shape``, ``dtype``, ``len()``, indexing by an int, a slice or a 1-D batch of indices (a LongTensor or an
ndarray, unsorted and with repeats, as the training loop draws them) read only those rows and return a tensor,
and ``mean(0)`` / ``std(0)`` (the encoder's normalisation) are computed by chunked reads, so the whole array is
never in memory. Results equal the eager tensors: the same rows, and the same statistics up to rounding (exactly
the same when the array fits in one statistics chunk).

Random rows are fast only when the file's chunks hold whole rows; see docs/cluster.md.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import Tensor

from dgno.errors import DgnoError
from dgno.reference.dataset import (
    H5_READ_ERRORS,
    Dataset,
    check_h5_path,
    check_shapes,
    check_split_keys,
    check_values,
)

DEFAULT_MEMORY_BUDGET_MB = 2048.0  # training arrays larger than this are streamed
STATS_CHUNK_BYTES = 64 * 2**20  # rows read at a time for statistics and value checks
CACHE_BYTES = 64 * 2**20  # HDF5 chunk cache per open file
_SLOW_CHUNKS = 8  # warn when a row costs more than this many rows' worth of decompression


def torch_dtype(dtype: np.dtype) -> torch.dtype:
    return torch.from_numpy(np.empty(0, dtype=dtype)).dtype


class H5Rows:
    """Rows ``[0, n)`` of the dataset ``name`` of the HDF5 file ``path``, read when indexed.

    The file is opened on first use and again in a new process (after a fork or unpickling).
    """

    def __init__(self, path: str | os.PathLike, name: str, n: int | None = None) -> None:
        self.path, self.name = Path(path), name
        try:
            with h5py.File(self.path, "r") as f:
                ds = f[name]
                shape, np_dtype, chunks = tuple(ds.shape), ds.dtype, ds.chunks
        except (OSError, KeyError) as exc:
            raise DgnoError(f"{self.path}: cannot read '{name}' ({exc})") from None
        if len(shape) < 1:
            raise DgnoError(f"{self.path}: '{name}' is a scalar, expected (N, ...) rows")
        n = shape[0] if n is None else int(n)
        if not 0 <= n <= shape[0]:
            raise ValueError(f"H5Rows: n={n} outside 0..{shape[0]}")
        self.shape = torch.Size((n, *shape[1:]))
        self.np_dtype = np_dtype
        self.dtype = torch_dtype(np_dtype)
        self.chunks = chunks
        self._file: h5py.File | None = None
        self._pid: int | None = None
        self._stats: dict[str, Tensor] = {}

    # ------------------------------------------------------------------------------------ basics
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"H5Rows({str(self.path)!r}, {self.name!r}, shape={tuple(self.shape)}, dtype={self.dtype})"

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def row_bytes(self) -> int:
        return math.prod(self.shape[1:]) * self.np_dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.shape[0] * self.row_bytes

    def first(self, n: int) -> H5Rows:
        """Rows ``[0, n)`` (self when n is all of them: the cached statistics are kept)."""
        if n == self.shape[0]:
            return self
        return H5Rows(self.path, self.name, n)

    def _dataset(self) -> h5py.Dataset:
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r", rdcc_nbytes=CACHE_BYTES, rdcc_nslots=10007)
            self._pid = os.getpid()
        return self._file[self.name]

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_file": None, "_pid": None}

    # ---------------------------------------------------------------------------------- indexing
    def __getitem__(self, index) -> Tensor:
        n = self.shape[0]
        if isinstance(index, Tensor) and index.ndim == 0:
            index = index.item()
        if isinstance(index, int | np.integer):
            i = int(index) + n if index < 0 else int(index)
            if not 0 <= i < n:
                raise IndexError(f"index {int(index)} is out of bounds for {n} rows")
            return torch.from_numpy(np.asarray(self._dataset()[i]))
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step == 1:
                rows = self._dataset()[start:stop] if stop > start else np.empty((0, *self.shape[1:]), self.np_dtype)
                return torch.from_numpy(np.asarray(rows))
            return self[np.arange(start, stop, step)]
        return torch.from_numpy(self._take(index))

    def _take(self, index) -> np.ndarray:
        """Rows of a 1-D batch of indices: the sorted unique indices are read, then the order and repeats restored."""
        idx = index.detach().cpu().numpy() if isinstance(index, Tensor) else np.asarray(index)
        if idx.dtype == np.bool_:
            if idx.shape != (self.shape[0],):
                raise IndexError(f"a boolean mask of {self.shape[0]} rows expected, got shape {idx.shape}")
            idx = np.flatnonzero(idx)
        if idx.ndim != 1 or not (idx.size == 0 or np.issubdtype(idx.dtype, np.integer)):
            raise TypeError(f"H5Rows takes an int, a slice or a 1-D batch of integer indices, got {type(index)}")
        n = self.shape[0]
        idx = np.where(idx < 0, idx + n, idx).astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"indices out of bounds for {n} rows")
        unique, inverse = np.unique(idx, return_inverse=True)
        rows = np.empty((unique.size, *self.shape[1:]), self.np_dtype)
        # one read per run of consecutive indices: faster than h5py's fancy indexing (a union of hyperslabs)
        cuts = np.flatnonzero(np.diff(unique) != 1) + 1
        ds = self._dataset()
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, unique.size], strict=True):
            if hi > lo:
                rows[lo:hi] = ds[unique[lo] : unique[hi - 1] + 1]
        return rows if unique.size == idx.size and np.array_equal(unique, idx) else rows[inverse.reshape(-1)]

    # -------------------------------------------------------------------------------- statistics
    def chunks_of_rows(self, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(start, rows [start, start + k)) over all rows, ``rows`` (default: 64 MiB worth) at a time."""
        k = rows or max(1, STATS_CHUNK_BYTES // max(1, self.row_bytes))
        ds = self._dataset()
        for start in range(0, self.shape[0], k):
            yield start, ds[start : min(start + k, self.shape[0])]

    def _one_chunk(self) -> bool:
        return self.nbytes <= STATS_CHUNK_BYTES

    def mean(self, dim: int = 0) -> Tensor:
        """The mean over rows (dim 0), as Tensor.mean(0) gives it."""
        _dim0(dim, "mean")
        if "mean" not in self._stats:
            if self._one_chunk():
                self._stats["mean"] = self[:].mean(0)
            else:
                total = torch.zeros(self.shape[1:], dtype=torch.float64)
                for _, rows in self.chunks_of_rows():
                    total += torch.from_numpy(rows).sum(0, dtype=torch.float64)
                self._stats["mean64"] = total / self.shape[0]
                self._stats["mean"] = self._stats["mean64"].to(self.dtype)
        return self._stats["mean"]

    def std(self, dim: int = 0) -> Tensor:
        """The standard deviation over rows (dim 0, Bessel-corrected), as Tensor.std(0) gives it (two passes)."""
        _dim0(dim, "std")
        if "std" not in self._stats:
            if self._one_chunk():
                self._stats["std"] = self[:].std(0)
            else:
                self.mean(0)
                mean = self._stats["mean64"]
                squares = torch.zeros(self.shape[1:], dtype=torch.float64)
                for _, rows in self.chunks_of_rows():
                    squares += ((torch.from_numpy(rows).to(torch.float64) - mean) ** 2).sum(0)
                self._stats["std"] = (squares / (self.shape[0] - 1)).sqrt().to(self.dtype)
        return self._stats["std"]

    def check_values(self, *, source: str, positive: bool = False) -> None:
        """Raise DgnoError (as load_h5 does) if a value is NaN/inf, or <= 0 when it must be positive."""
        for start, rows in self.chunks_of_rows():
            finite = np.isfinite(rows)
            if not finite.all():
                bad = np.argwhere(~finite)[0]
                bad[0] += start
                raise DgnoError(f"{source}: '{self.name}' holds a non-finite value at index {tuple(bad.tolist())}")
            if positive and np.any(rows <= 0):
                bad = np.argwhere(rows <= 0)[0]
                value = rows[tuple(bad)]
                bad[0] += start
                raise DgnoError(
                    f"{source}: coefficient '{self.name}' must be positive, found {value:g} at index "
                    f"{tuple(bad.tolist())}"
                )

    def warn_if_slow(self) -> None:
        """Warn when the file's chunks span many rows: then each random row decompresses far more than itself."""
        if self.chunks is None or self.row_bytes == 0:
            return
        per_row = math.prod(math.ceil(s / c) for s, c in zip(self.shape[1:], self.chunks[1:], strict=True))
        cost = per_row * math.prod(self.chunks) * self.np_dtype.itemsize / self.row_bytes
        if cost > _SLOW_CHUNKS:
            layout = "x".join(map(str, (1, *self.shape[1:])))
            warnings.warn(
                f"{self.path}: '{self.name}' is stored in chunks of {self.chunks}; reading one random row "
                f"decompresses {cost:.0f} rows' worth, so streamed training will be slow. Re-chunk by rows, e.g. "
                f"h5repack -l {self.name}:CHUNK={layout} (docs/cluster.md)",
                stacklevel=2,
            )


def _dim0(dim, what: str) -> None:
    if dim not in (0, (0,), [0]):
        raise ValueError(f"H5Rows.{what} reduces over the rows only (dim 0), got dim={dim}")


def training_nbytes(path: str | os.PathLike, *, n: int | None, with_u: bool) -> int:
    """Bytes of rows [0, n) of ``a`` (and ``u``) of a split file, from its metadata (nothing read)."""
    path = Path(path)
    if not path.is_file() or not h5py.is_hdf5(path):
        return 0  # load_h5 reports the problem
    try:
        with h5py.File(path, "r") as f:
            total = 0
            for name in ("a", "u") if with_u else ("a",):
                if name in f:
                    ds = f[name]
                    rows = ds.shape[0] if n is None else min(n, ds.shape[0])
                    total += rows * math.prod(ds.shape[1:]) * ds.dtype.itemsize
            return total
    except (*H5_READ_ERRORS, AttributeError, IndexError):  # a damaged file: load_h5 reports what is wrong
        return 0


def should_stream(path: str | os.PathLike, *, n: int | None, with_u: bool, memory_budget_mb: float | None) -> bool:
    """Whether the training arrays of ``path`` exceed the budget (None: DEFAULT_MEMORY_BUDGET_MB; 0: always)."""
    budget = DEFAULT_MEMORY_BUDGET_MB if memory_budget_mb is None else float(memory_budget_mb)
    if not budget >= 0:
        raise DgnoError(f"data.memory_budget_mb must be >= 0 (0: always stream), got {memory_budget_mb}")
    return training_nbytes(path, n=n, with_u=with_u) > budget * 2**20


def load_h5_rows(path: str | os.PathLike, *, require_u: bool = False, read_u: bool = True) -> Dataset:
    """Like :func:`~dgno.reference.dataset.load_h5`, with ``a`` and ``u`` as :class:`H5Rows` (read on indexing).

    Coordinates, extras and provenance are read; keys, shapes and values are checked as load_h5 does (values by
    chunked reads).
    """
    path = check_h5_path(path)
    try:
        with h5py.File(path, "r") as f:
            check_split_keys(f, path, require_u=require_u)
            has_u = "u" in f and read_u
            x_a, x_u = f["x_a"][()], f["x_u"][()]
            extras = {k: v[()] for k, v in f["extras"].items()} if "extras" in f else {}
            attrs = json.loads(f.attrs["provenance"]) if "provenance" in f.attrs else {}
    except DgnoError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise DgnoError(f"{path}: unreadable HDF5 file ({exc})") from None
    ds = object.__new__(Dataset)
    ds.a, ds.u = H5Rows(path, "a"), (H5Rows(path, "u") if has_u else None)
    ds.x_a, ds.x_u, ds.attrs, ds.extras = x_a, x_u, attrs, extras
    check_shapes(ds, source=str(path))
    for rows in (ds.a, ds.u):
        if rows is not None:
            rows.warn_if_slow()
    coords = Dataset(a=np.empty((0, *x_a.shape[:-1])), u=None, x_a=x_a, x_u=x_u)
    check_values(coords, source=str(path))
    ds.a.check_values(source=str(path), positive=bool(attrs.get("a_positive", False)))
    if ds.u is not None:
        ds.u.check_values(source=str(path))
    return ds
