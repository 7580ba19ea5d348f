"""Data set generation: sample inputs, solve with the reference solver, write split files.

Works for any :class:`~dgno.reference.presets.DataPreset` (Darcy, Burgers): the preset supplies the
input distributions, the solve and the stored grids.

Sample i of split s is drawn from its own generator, ``default_rng(SeedSequence([seed,
split_key(s), i]))``, so a file's content depends only on (preset, seed, split, index): shards
and worker counts never change the data, and merged shards equal a single run.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import h5py
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


def _solve_one(task: tuple[DataPreset, int, str, int]) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    preset, seed, split, index = task
    field = preset.sampler(split).sample(sample_rng(seed, split, index))
    a, u = preset.solve(field)
    parameters = getattr(field, "parameters", None)  # a finite-dimensional input's parameters (Stokes' b1, b2)
    return a, u, {} if parameters is None else parameters()


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
    extras = dict(preset.extras()) if hasattr(preset, "extras") else {}  # shared by every sample (a mesh's triangles)
    for key in out[0][2] if out else ():
        extras[key] = np.array([r[2][key] for r in out])  # (N,): one per sample
    return Dataset(a=a, u=u, x_a=x_a, x_u=x_u, attrs=attrs, extras=extras)


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
    """Join shard files (``<split>.shard-i-of-n.h5`` in the ``inputs`` folders or files) per split.

    Every shard is checked before any sample is read, and the merge refuses (one :class:`DgnoError` naming the
    files) shards of different runs (preset, seed, generation parameters or provenance), of different shard counts,
    given twice or overlapping, missing, or with different array shapes, dtypes or grids. The split files are
    written to a staging folder inside ``out_dir`` and moved into place only when all of them are complete.
    """
    headers = [_read_shard(path) for path in _shard_files(inputs)]
    plan = _plan_merge(headers)
    out_dir = Path(out_dir)
    writable_path(out_dir / "probe")
    staging = Path(tempfile.mkdtemp(prefix=".merge-", dir=out_dir))  # hidden, unique, on the same file system
    try:
        staged = []
        for split, parts in plan.items():
            datasets = [load_h5(h.path, require_u=True) for h in parts]
            staged.append(save_h5(_join_shards(split, datasets), staging / f"{split}.h5"))
        written = []
        for path in staged:  # all complete: move into place (renames within one file system)
            written.append(out_dir / path.name)
            os.replace(path, written[-1])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


@dataclass(frozen=True)
class _ShardHeader:
    """What merge checks of a shard file, read without its samples."""

    path: Path
    attrs: dict
    shard: Shard
    start: int
    stop: int
    arrays: dict[str, tuple[tuple[int, ...], str]]  # a, u: (shape, dtype)
    x_a: np.ndarray
    x_u: np.ndarray


_SHARD_VARYING = {"index_start", "index_stop", "n_samples", "shard", "created"}
_SPLIT_VARYING = {"split", "split_key", "field", "n_total"}  # differ between the splits of one run


def _shard_files(inputs: Sequence[str | Path]) -> list[Path]:
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():  # not hidden files: the temporary files of writers still running or killed
            files += sorted(p for p in item.glob("*.shard-*-of-*.h5") if not p.name.startswith("."))
        elif item.is_file():
            files.append(item)
        else:
            raise DgnoError(f"{item}: no such file or folder")
    if not files:
        raise DgnoError(f"no shard files (*.shard-i-of-n.h5) in {', '.join(map(str, inputs))}")
    seen: dict[Path, Path] = {}
    for path in files:
        first = seen.setdefault(path.resolve(), path)
        if first is not path:
            raise DgnoError(f"shard file given twice: {first} and {path}")
    return files


def _read_shard(path: Path) -> _ShardHeader:
    if not h5py.is_hdf5(path):
        raise DgnoError(f"{path}: not an HDF5 file (or truncated)")
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in ("a", "u", "x_a", "x_u") if k not in f]
            if missing:
                raise DgnoError(f"{path}: missing key(s) {', '.join(map(repr, missing))}; not a whole shard file")
            attrs = json.loads(f.attrs["provenance"]) if "provenance" in f.attrs else {}
            arrays = {k: (tuple(f[k].shape), str(f[k].dtype)) for k in ("a", "u")}
            x_a, x_u = f["x_a"][()], f["x_u"][()]
    except DgnoError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise DgnoError(f"{path}: unreadable HDF5 file ({exc})") from None
    needed = ("split", "index_start", "index_stop", "shard", "n_total")
    if any(k not in attrs for k in needed):
        raise DgnoError(f"{path}: not a dgno shard file (no split/index/shard provenance)")
    try:
        shard = Shard.parse(str(attrs["shard"]))
    except DgnoError:
        raise DgnoError(f"{path}: not a dgno shard file (its shard is {attrs['shard']!r}, not i/n)") from None
    start, stop, n = int(attrs["index_start"]), int(attrs["index_stop"]), arrays["a"][0][0]
    expected = shard.range(int(attrs["n_total"]))
    if n != len(expected) or (n and (start, stop) != (expected.start, expected.stop)):  # an empty shard says (0, 0)
        raise DgnoError(
            f"{path}: holds {n} samples ({start}:{stop}) of split {attrs['split']}, but shard "
            f"{shard.index}/{shard.count} of {attrs['n_total']} is samples {expected.start}:{expected.stop}; "
            f"the file is damaged or was edited"
        )
    return _ShardHeader(path, attrs, shard, expected.start, expected.stop, arrays, x_a, x_u)


def _show(value: object) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _dims(shape: tuple[int, ...]) -> str:
    return f"(N, {', '.join(map(str, shape[1:]))})"


def _differences(a: dict, b: dict, skip: set[str]) -> list[str]:
    keys = sorted(k for k in (a.keys() | b.keys()) - skip if a.get(k) != b.get(k))
    return [f"{k} ({_show(a.get(k))} vs {_show(b.get(k))})" for k in keys]


def _plan_merge(headers: list[_ShardHeader]) -> dict[str, list[_ShardHeader]]:
    """The shards of each split in sample order, after checking that they make whole splits of one run."""
    ref = headers[0]
    for h in headers[1:]:  # one run: same preset, seed, parameters and provenance; same shard count and arrays
        diff = _differences(ref.attrs, h.attrs, _SHARD_VARYING | _SPLIT_VARYING)
        if diff:
            raise DgnoError(f"{ref.path} and {h.path} differ in {', '.join(diff)}; they come from different runs")
        if h.shard.count != ref.shard.count:
            raise DgnoError(
                f"mismatched shard counts: {ref.path} is shard {ref.shard.index}/{ref.shard.count}, "
                f"{h.path} is shard {h.shard.index}/{h.shard.count}"
            )
        for name in ("a", "u"):
            (shape0, dtype0), (shape1, dtype1) = ref.arrays[name], h.arrays[name]
            if shape0[1:] != shape1[1:] or dtype0 != dtype1:
                raise DgnoError(
                    f"{ref.path} and {h.path} hold different arrays: '{name}' is {dtype0} {_dims(shape0)} "
                    f"vs {dtype1} {_dims(shape1)}"
                )
        for name in ("x_a", "x_u"):
            c0, c1 = getattr(ref, name), getattr(h, name)
            if c0.shape != c1.shape or c0.dtype != c1.dtype or not np.array_equal(c0, c1):
                raise DgnoError(f"{ref.path} and {h.path} have different coordinates {name}")
    by_split: dict[str, list[_ShardHeader]] = {}
    for h in headers:
        by_split.setdefault(h.attrs["split"], []).append(h)
    count = ref.shard.count
    for split, parts in by_split.items():
        for h in parts[1:]:
            diff = _differences(parts[0].attrs, h.attrs, _SHARD_VARYING)
            if diff:
                raise DgnoError(
                    f"split {split}: {parts[0].path} and {h.path} differ in {', '.join(diff)}; "
                    f"they come from different runs"
                )
        parts.sort(key=lambda h: (h.start, h.shard.index))
        for prev, h in itertools.pairwise(parts):
            if h.shard.index == prev.shard.index:
                raise DgnoError(f"split {split}: shard {h.shard.index}/{count} given twice: {prev.path} and {h.path}")
            if h.start < prev.stop:
                raise DgnoError(
                    f"split {split}: {prev.path} and {h.path} overlap (samples {h.start}:"
                    f"{min(prev.stop, h.stop)} in both)"
                )
        absent = sorted(set(range(count)) - {h.shard.index for h in parts})
        if absent:
            names = ", ".join(f"{i}/{count}" for i in absent)
            raise DgnoError(
                f"split {split}: shard(s) {names} missing (found {len(parts)} of {count}: "
                f"{', '.join(str(h.path) for h in parts)})"
            )
    return by_split


def _join_shards(split: str, parts: list[Dataset]) -> Dataset:
    """Concatenate the checked shards of ``split`` (in sample order) with the provenance of the whole split."""
    ref = {k: v for k, v in parts[0].attrs.items() if k not in _SHARD_VARYING}
    n = sum(len(p) for p in parts)
    if n != ref["n_total"]:
        raise DgnoError(f"split {split}: shards hold {n} of {ref['n_total']} samples; some are missing")
    attrs = {**ref, "index_start": 0, "index_stop": n, "n_samples": n, "shard": "merged"}
    attrs["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return concatenate(parts, attrs=attrs)
