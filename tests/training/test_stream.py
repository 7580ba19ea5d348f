"""Streaming training batches from HDF5: H5Rows equals the eager tensors, and training is unchanged."""

from __future__ import annotations

import pickle
import sys

import h5py
import numpy as np
import pytest
import torch

import dgno.training.stream as stream
from dgno.config import get_preset
from dgno.config.build import run_training
from dgno.config.schema import load_config
from dgno.errors import DgnoError
from dgno.reference import Dataset, SplitCounts, generate, load_h5, save_h5
from dgno.training import load_checkpoint
from dgno.training.data import load_training_data
from dgno.training.stream import H5Rows, load_h5_rows

TINY = [
    "model.latent_dim=8", "model.encoder.hidden=[16]", "model.field.width=12", "model.field.depth=3",
    "model.field.n_sum=2", "model.a_decoder.width=12", "model.a_decoder.depth=3", "model.a_decoder.n_sum=2",
    "physics.particles=12", "train.batch_size=4", "train.val_every=3", "train.checkpoint_every=3",
    "train.log_every=1", "train.lr=1e-3", "train.threads=1",
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("pwc")
    generate(get_preset("darcy-pwc"), out, counts=SplitCounts(train=8, val=2, test=1, ood=1), seed=0)
    return out


@pytest.fixture(scope="module")
def eager(data_dir):
    return load_h5(data_dir / "train.h5", require_u=True)


def _batches(n: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    yield torch.tensor([5, 1, 5, 0, 7, 1])  # unsorted, with repeats
    yield torch.tensor([3])
    yield torch.arange(n).flip(0)
    for _ in range(5):
        yield torch.randint(0, n, (6,), generator=gen)  # as random batches come, repeats likely


def test_rows_equal_the_eager_tensors(data_dir, eager):
    for name in ("a", "u"):
        full = torch.from_numpy(getattr(eager, name))
        rows = H5Rows(data_dir / "train.h5", name)
        assert rows.shape == full.shape and rows.dtype == full.dtype and len(rows) == 8 and rows.ndim == full.ndim
        for idx in _batches(8):
            assert torch.equal(rows[idx], full[idx]), idx
            assert torch.equal(rows[idx.numpy()], full[idx])
        for index in (2, -1, np.int64(4), torch.tensor(6), slice(None), slice(2, 5)):
            assert torch.equal(rows[index], full[index]), index
        assert torch.equal(rows[::-3], full[[7, 4, 1]])
        assert rows[torch.tensor([], dtype=torch.long)].shape == (0, *full.shape[1:])
        mask = torch.arange(8) % 3 == 0
        assert torch.equal(rows[mask], full[mask])


def test_first_rows_and_bounds(data_dir, eager):
    rows = H5Rows(data_dir / "train.h5", "a").first(5)
    assert rows.shape[0] == 5 and torch.equal(rows[:], torch.from_numpy(eager.a[:5]))
    with pytest.raises(IndexError):
        rows[torch.tensor([0, 5])]
    with pytest.raises(IndexError):
        rows[-6]
    with pytest.raises(TypeError):
        rows[torch.zeros(2, 2, dtype=torch.long)]


def test_statistics_equal_the_eager_ones(data_dir, eager, monkeypatch):
    full = torch.from_numpy(eager.a)
    rows = H5Rows(data_dir / "train.h5", "a")
    assert torch.equal(rows.mean(0), full.mean(0)) and torch.equal(rows.std(0), full.std(0))  # one chunk: exact
    monkeypatch.setattr(stream, "STATS_CHUNK_BYTES", 3 * rows.row_bytes)  # 3 chunks of <= 3 rows
    chunked = H5Rows(data_dir / "train.h5", "a")
    assert len(list(chunked.chunks_of_rows())) == 3
    torch.testing.assert_close(chunked.mean(0), full.mean(0), rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(chunked.std(0), full.std(0), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="dim 0"):
        rows.mean(1)


def test_rows_survive_pickling_and_reopen(data_dir, eager):
    rows = H5Rows(data_dir / "train.h5", "u")
    rows[0]  # opens the file
    again = pickle.loads(pickle.dumps(rows))
    assert torch.equal(again[torch.tensor([4, 2])], torch.from_numpy(eager.u[[4, 2]]))
    rows.close()
    assert torch.equal(rows[1], torch.from_numpy(eager.u[1]))


def test_lazy_loading_checks_values_like_load_h5(eager, tmp_path, monkeypatch):
    bad = Dataset(a=eager.a.copy(), u=eager.u.copy(), x_a=eager.x_a, x_u=eager.x_u, attrs=dict(eager.attrs))
    bad.a[6, 3, 4] = -1.0  # darcy-pwc's a must be positive
    save_h5(bad, tmp_path / "neg.h5")
    bad.a[6, 3, 4], bad.u[5, 2, 1] = eager.a[6, 3, 4], np.nan
    save_h5(bad, tmp_path / "nan.h5")
    save_h5(Dataset(a=eager.a, u=None, x_a=eager.x_a, x_u=eager.x_u), tmp_path / "inputs.h5")
    monkeypatch.setattr(stream, "STATS_CHUNK_BYTES", 2 * eager.a[0].nbytes)  # the bad rows are in later chunks
    for name in ("neg.h5", "nan.h5"):
        with pytest.raises(DgnoError) as want:
            load_h5(tmp_path / name, require_u=True)
        with pytest.raises(DgnoError) as got:
            load_h5_rows(tmp_path / name, require_u=True)
        assert str(got.value) == str(want.value)
    with pytest.raises(DgnoError, match="missing key"):
        load_h5_rows(tmp_path / "inputs.h5", require_u=True)


def test_rows_chunked_across_samples_warn(eager, tmp_path):
    with h5py.File(tmp_path / "wide.h5", "w") as f:
        f.create_dataset("a", data=np.repeat(eager.a, 8, axis=0), chunks=(16, 4, 4), compression="gzip")
    with pytest.warns(UserWarning, match="h5repack -l a:CHUNK=1x29x29"):
        H5Rows(tmp_path / "wide.h5", "a").warn_if_slow()


def test_load_training_data_streams_above_the_budget(data_dir, eager):
    mb = eager.a[:6].nbytes / 2**20  # 6 inputs
    assert isinstance(load_training_data(data_dir).a, torch.Tensor)  # default budget: eager
    assert isinstance(load_training_data(data_dir, n_train=6, memory_budget_mb=mb).a, torch.Tensor)
    data = load_training_data(data_dir, n_train=6, memory_budget_mb=mb * 0.99)
    assert isinstance(data.a, H5Rows) and data.a.shape[0] == 6 and data.u is None
    data = load_training_data(data_dir, n_train=6, n_labeled=2, memory_budget_mb=0)
    assert isinstance(data.u, H5Rows) and data.u.shape[0] == 6 and data.labeled.tolist() == [1, 1, 0, 0, 0, 0]
    assert torch.equal(data.u[torch.tensor([1, 0, 1])], torch.from_numpy(eager.u[[1, 0, 1]]))
    with pytest.raises(DgnoError, match="n_train=9"):
        load_training_data(data_dir, n_train=9, memory_budget_mb=0)
    with pytest.raises(DgnoError, match="memory_budget_mb must be >= 0"):
        load_training_data(data_dir, memory_budget_mb=-1)


@pytest.mark.parametrize("extra", [[], ["data.n_labeled=3"]], ids=["physics-only", "semi-supervised"])
def test_streamed_training_equals_eager_training(data_dir, tmp_path, monkeypatch, extra):
    cfg = load_config(None, [*TINY, f"data.dir={data_dir}", "data.preset=darcy-pwc", "train.steps=4", *extra])
    run_training(cfg, tmp_path / "eager", progress=False, log=lambda _: None)
    build = sys.modules["dgno.config.build"]
    seen = []
    monkeypatch.setattr(build, "load_training_data",
                        lambda *a, **k: seen.append(load_training_data(*a, **k)) or seen[-1])
    cfg = load_config(None, [*TINY, f"data.dir={data_dir}", "data.preset=darcy-pwc", "train.steps=4", *extra,
                             "data.memory_budget_mb=0"])  # stream whatever the size
    run_training(cfg, tmp_path / "streamed", progress=False, log=lambda _: None)
    assert isinstance(seen[0].a, H5Rows) and (seen[0].u is None) == (not extra)
    a, b = (load_checkpoint(tmp_path / run / "last.pt")["model"] for run in ("eager", "streamed"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
