"""Data set generation: sample inputs, solve with the reference solver, write split files.

Works for any :class:`~dgno.reference.presets.DataPreset` (Darcy, Burgers): the preset supplies the
input distributions, the solve and the stored grids.

Sample i of split s is drawn from its own generator, ``default_rng(SeedSequence([seed,
split_key(s), i]))``, so a file's content depends only on (preset, seed, split, index): shards
and worker counts never change the data, and merged shards equal a single run.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from tqdm import tqdm

from dgno import __version__
from dgno.errors import DgnoError
from dgno.reference.dataset import Dataset, concatenate, load_h5, save_h5, writable_path
from dgno.reference.presets import DataPreset

RNG_RECIPE = "numpy default_rng(SeedSequence([seed, split_key, index]))"


def split_key(split: str) -> int:
    """A stable integer for a split name (crc32 of its UTF-8 bytes)."""
    return zlib.crc32(split.encode())


def sample_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, split_key(split), index]))


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``: the contiguous share of every split's index range."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise DgnoError(f"shard must be i/n with 0 <= i < n, got {self.index}/{self.count}")

    def range(self, n: int) -> range:
        return range(self.index * n // self.count, (self.index + 1) * n // self.count)

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            i, n = (int(p) for p in text.split("/"))
        except ValueError:
            raise DgnoError(f"shard must look like i/n (e.g. 0/4), got {text!r}") from None
        return cls(i, n)

    def suffix(self) -> str:
        return "" if self.count == 1 else f".shard-{self.index}-of-{self.count}"


def _solve_one(task: tuple[DataPreset, int, str, int]) -> tuple[np.ndarray, np.ndarray]:
    preset, seed, split, index = task
    field = preset.sampler(split).sample(sample_rng(seed, split, index))
    return preset.solve(field)


def generate_split(
    preset: DataPreset,
    split: str,
    indices: Sequence[int],
    *,
    seed: int,
    executor: Executor | None = None,
    progress: bool = False,
) -> Dataset:
    """Inputs and reference solutions of ``split`` for the sample ``indices``.

    ``executor`` (e.g. a ProcessPoolExecutor) runs the solves in parallel; None runs them here.
    """
    tasks = [(preset, seed, split, int(i)) for i in indices]
    if executor is not None and len(tasks) > 1:
        results: Iterable = executor.map(_solve_one, tasks, chunksize=max(1, min(16, len(tasks) // 16)))
    else:
        results = map(_solve_one, tasks)
    out = list(tqdm(results, total=len(tasks), desc=f"{preset.name} {split}", disable=not progress, unit="sample"))
    x_a, x_u = preset.x_a(), preset.x_u()  # (*grid_a, d_a), (*grid_u, d_u)
    a = np.stack([r[0] for r in out]) if out else np.empty((0, *x_a.shape[:-1]))  # (N, *grid_a)
    u = np.stack([r[1] for r in out]) if out else np.empty((0, *x_u.shape[:-1]))  # (N, *grid_u)
    start, stop = (int(indices[0]), int(indices[-1]) + 1) if len(indices) else (0, 0)
    attrs = {
        **preset.describe(),
        "field": preset.sampler(split).describe(),  # the distribution this split was drawn from
        "split": split,
        "seed": seed,
        "rng": RNG_RECIPE,
        "split_key": split_key(split),
        "index_start": start,
        "index_stop": stop,
        "n_samples": len(indices),
        "dgno_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "a_positive": preset.a_positive,
        "layout": preset.layout,
    }
    return Dataset(a=a, u=u, x_a=x_a, x_u=x_u, attrs=attrs)


@dataclass(frozen=True)
class SplitCounts:
    train: int = 1000
    val: int = 100
    test: int = 200
    ood: int | None = None  # None: as many as test

    def __post_init__(self) -> None:
        for name in ("train", "val", "test", "ood"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise DgnoError(f"--n-{name} must be a positive number of samples, got {value}")

    def of(self, split: str) -> int:
        if split in ("train", "val", "test"):
            return getattr(self, split)
        return self.test if self.ood is None else self.ood


def generate(
    preset: DataPreset,
    out_dir: str | Path,
    *,
    counts: SplitCounts,
    seed: int,
    workers: int = 1,
    shard: Shard = Shard(),
    progress: bool = False,
) -> list[Path]:
    """Write every split of ``preset`` to ``out_dir`` (``<split>[.shard-i-of-n].h5``)."""
    out_dir = Path(out_dir)
    writable_path(out_dir / "probe")  # fail before any solving if the folder is unusable
    datasets = {}
    with ProcessPoolExecutor(max_workers=workers) if workers > 1 else nullcontext() as executor:
        for split in preset.splits:
            ds = generate_split(
                preset, split, shard.range(counts.of(split)), seed=seed, executor=executor, progress=progress
            )
            ds.attrs.update(shard=f"{shard.index}/{shard.count}", n_total=counts.of(split))
            datasets[split] = ds
    return [save_h5(ds, out_dir / f"{split}{shard.suffix()}.h5") for split, ds in datasets.items()]


def merge(inputs: Sequence[str | Path], out_dir: str | Path) -> list[Path]:
    """Join shard files (``<split>.shard-i-of-n.h5`` in the ``inputs`` folders or files) per split."""
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files += sorted(item.glob("*.shard-*-of-*.h5"))
        elif item.is_file():
            files.append(item)
        else:
            raise DgnoError(f"{item}: no such file or folder")
    if not files:
        raise DgnoError(f"no shard files (*.shard-i-of-n.h5) in {', '.join(map(str, inputs))}")
    by_split: dict[str, list[Dataset]] = {}
    for path in files:
        ds = load_h5(path, require_u=True)
        if "split" not in ds.attrs or "index_start" not in ds.attrs:
            raise DgnoError(f"{path}: not a dgno shard file (no split/index provenance)")
        by_split.setdefault(ds.attrs["split"], []).append(ds)
    written = []
    for split, parts in by_split.items():
        written.append(save_h5(_join_shards(split, parts), Path(out_dir) / f"{split}.h5"))
    return written


_SHARD_VARYING = {"index_start", "index_stop", "n_samples", "shard", "created"}


def _join_shards(split: str, parts: list[Dataset]) -> Dataset:
    parts = sorted(parts, key=lambda d: d.attrs["index_start"])
    ref = {k: v for k, v in parts[0].attrs.items() if k not in _SHARD_VARYING}
    for p in parts[1:]:
        other = {k: v for k, v in p.attrs.items() if k not in _SHARD_VARYING}
        diff = sorted(k for k in ref.keys() | other.keys() if ref.get(k) != other.get(k))
        if diff:
            raise DgnoError(f"split {split}: shards differ in {', '.join(diff)}; they come from different runs")
    expected = 0
    for p in parts:
        if p.attrs["index_start"] != expected:
            raise DgnoError(f"split {split}: shards leave a gap or overlap at sample {expected}")
        expected = p.attrs["index_stop"]
    if expected != ref.get("n_total", expected):
        raise DgnoError(f"split {split}: shards cover {expected} of {ref['n_total']} samples; some are missing")
    attrs = {**ref, "index_start": 0, "index_stop": expected, "n_samples": expected, "shard": "merged"}
    attrs["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return concatenate(parts, attrs=attrs)
