"""Sharded generation and merge: merged shards equal one run; incomplete or mixed shards are refused."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from dgno.cli import main
from dgno.config import get_preset
from dgno.errors import DgnoError
from dgno.reference import Shard, SplitCounts, generate, load_h5, merge

COUNTS = SplitCounts(train=3, val=2, test=1, ood=1)  # 3 shards: some shards of val, test and OOD are empty
PWC = get_preset("darcy-pwc")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One whole run, its 3 shards, and single shards of other runs (seed, preset, shard count, counts)."""
    root = tmp_path_factory.mktemp("runs")
    generate(PWC, root / "whole", counts=COUNTS, seed=7)
    for i in range(3):
        generate(PWC, root / "shards", counts=COUNTS, seed=7, shard=Shard(i, 3))
    generate(PWC, root / "seed8", counts=COUNTS, seed=8, shard=Shard(1, 3))
    generate(get_preset("darcy-smooth"), root / "smooth", counts=COUNTS, seed=7, shard=Shard(1, 3))
    generate(PWC, root / "halves", counts=COUNTS, seed=7, shard=Shard(1, 2))
    generate(PWC, root / "more", counts=SplitCounts(train=4, val=2, test=1, ood=1), seed=7, shard=Shard(1, 3))
    return root


def _shard_files(runs, *, without: int | None = None) -> list:
    return [p for p in sorted((runs / "shards").glob("*.h5")) if without is None or f".shard-{without}-" not in p.name]


def _copy(runs, tmp_path, index: int) -> list:
    """Copies of shard ``index``'s files in their own folder (to be edited)."""
    out = tmp_path / f"copy{index}"
    out.mkdir()
    return [Path(shutil.copy(p, out)) for p in (runs / "shards").glob(f"*.shard-{index}-of-3.h5")]


def _edit_provenance(paths, **changes) -> None:
    for path in paths:
        with h5py.File(path, "r+") as f:
            attrs = json.loads(f.attrs["provenance"])
            attrs.update(changes)
            f.attrs["provenance"] = json.dumps(attrs, sort_keys=True)


def _replace_arrays(paths, **arrays) -> None:
    """Rewrite datasets of ``paths``: name -> function of the stored array."""
    for path in paths:
        with h5py.File(path, "r+") as f:
            for name, fn in arrays.items():
                new = fn(f[name][()])
                del f[name]
                f.create_dataset(name, data=new)


def test_merged_shards_equal_the_single_run_bit_for_bit(runs, tmp_path):
    written = merge([runs / "shards"], tmp_path / "merged")
    assert sorted(p.name for p in written) == sorted(f"{s}.h5" for s in PWC.splits)
    assert sorted(p.name for p in (tmp_path / "merged").iterdir()) == sorted(p.name for p in written)  # no staging
    for split in PWC.splits:
        whole, merged = load_h5(runs / "whole" / f"{split}.h5"), load_h5(tmp_path / "merged" / f"{split}.h5")
        for name in ("a", "u", "x_a", "x_u"):
            x, y = getattr(whole, name), getattr(merged, name)
            assert x.dtype == y.dtype and x.shape == y.shape, (split, name)
            assert x.tobytes() == y.tobytes(), (split, name)
        differ = {k for k in whole.attrs.keys() | merged.attrs.keys() if whole.attrs.get(k) != merged.attrs.get(k)}
        assert differ <= {"created", "shard"}, (split, differ)
        assert merged.attrs["shard"] == "merged" and merged.attrs["n_samples"] == COUNTS.of(split)


def test_merge_takes_files_in_any_order(runs, tmp_path):
    merge(list(reversed(_shard_files(runs))), tmp_path / "merged")
    a, b = load_h5(runs / "whole" / "train.h5"), load_h5(tmp_path / "merged" / "train.h5")
    np.testing.assert_array_equal(a.a, b.a)


def test_merge_skips_temporary_files_of_writers(runs, tmp_path):
    """A generate task still writing (or killed) leaves a hidden temporary file beside the shards."""
    shards = shutil.copytree(runs / "shards", tmp_path / "shards")
    (shards / ".train.shard-1-of-3.tmp4242.h5").write_bytes(b"half an HDF5 file")
    (shards / ".val.shard-1-of-3.h5.tmp4242").write_bytes(b"")
    merge([shards], shards)
    a, b = load_h5(runs / "whole" / "train.h5"), load_h5(shards / "train.h5")
    np.testing.assert_array_equal(a.u, b.u)


def _case_preset(runs, tmp_path):
    return [*_shard_files(runs, without=1), runs / "smooth"]


def _case_seed(runs, tmp_path):
    return [*_shard_files(runs, without=1), runs / "seed8"]


def _case_parameters(runs, tmp_path):  # another --n-train
    return [*_shard_files(runs, without=1), runs / "more"]


def _case_provenance(runs, tmp_path):
    copies = _copy(runs, tmp_path, 1)
    _edit_provenance(copies, dgno_version="0.0.1")
    return [*_shard_files(runs, without=1), *copies]


def _case_count(runs, tmp_path):
    return [*_shard_files(runs, without=1), runs / "halves"]


def _case_unsharded_file(runs, tmp_path):
    return [*_shard_files(runs), runs / "whole" / "train.h5"]


def _case_same_file_twice(runs, tmp_path):
    return [*_shard_files(runs), _shard_files(runs)[0]]


def _case_same_folder_twice(runs, tmp_path):
    return [runs / "shards", runs / "shards"]


def _case_shard_twice(runs, tmp_path):
    return [runs / "shards", *_copy(runs, tmp_path, 0)]


def _case_edited_range(runs, tmp_path):  # shard 1 claims samples 0:2 of train, overlapping shard 0
    copies = [p for p in _copy(runs, tmp_path, 1) if p.name.startswith("train.")]
    _edit_provenance(copies, index_start=0)
    return [p for p in _shard_files(runs) if p.name != "train.shard-1-of-3.h5"] + copies


def _case_missing_shard(runs, tmp_path):
    return _shard_files(runs, without=1)


def _case_missing_split_file(runs, tmp_path):
    return [p for p in _shard_files(runs) if p.name != "val.shard-2-of-3.h5"]


def _case_dtype(runs, tmp_path):
    copies = _copy(runs, tmp_path, 1)
    _replace_arrays(copies, a=lambda a: a.astype(np.float32), u=lambda u: u.astype(np.float32))
    return [*_shard_files(runs, without=1), *copies]


def _case_shape(runs, tmp_path):
    copies = _copy(runs, tmp_path, 1)
    _replace_arrays(copies, u=lambda u: u[:, :, :28])
    return [*_shard_files(runs, without=1), *copies]


def _case_x_a(runs, tmp_path):
    copies = _copy(runs, tmp_path, 1)
    _replace_arrays(copies, x_a=lambda x: x * (1 + 1e-12))
    return [*_shard_files(runs, without=1), *copies]


def _case_x_u(runs, tmp_path):
    copies = _copy(runs, tmp_path, 2)
    _replace_arrays(copies, x_u=lambda x: x[::-1].copy())
    return [*_shard_files(runs, without=2), *copies]


def _case_not_hdf5(runs, tmp_path):
    bad = tmp_path / "train.shard-1-of-3.h5"
    bad.write_text("not hdf5")
    return [*_shard_files(runs, without=1), bad]


REFUSALS = {
    "another preset": (_case_preset, r"shard-1-of-3\.h5 differ in .*preset \(\"darcy-pwc\" vs \"darcy-smooth\"\)"),
    "another seed": (_case_seed, r"differ in seed \(7 vs 8\); they come from different runs"),
    "other parameters": (_case_parameters, r"split train: .* differ in n_total \(3 vs 4\)"),
    "other provenance": (_case_provenance, r"copy1/.* differ in dgno_version \(.* vs \"0\.0\.1\"\)"),
    "shard counts": (_case_count, r"mismatched shard counts: .*-0-of-3\.h5 is shard 0/3, .*halves/.* is shard 1/2"),
    "unsharded file": (_case_unsharded_file, r"mismatched shard counts: .*/whole/train\.h5 is shard 0/1"),
    "same file twice": (_case_same_file_twice, r"shard file given twice: .*shard-0-of-3\.h5 and .*shard-0-of-3\.h5"),
    "same folder twice": (_case_same_folder_twice, r"shard file given twice"),
    "same shard twice": (_case_shard_twice, r"shard 0/3 given twice: .*shards/.*shard-0-of-3\.h5 and .*copy0/"),
    "overlapping range": (_case_edited_range, r"copy1/train\.shard-1-of-3\.h5: holds 1 samples \(0:2\).* 1:2; "
                          r"the file is damaged or was edited"),
    "missing shard": (_case_missing_shard, r"shard\(s\) 1/3 missing \(found 2 of 3: .*shard-0-of-3\.h5, "),
    "missing split file": (_case_missing_split_file, r"split val: shard\(s\) 2/3 missing"),
    "dtype": (_case_dtype, r"hold different arrays: 'a' is float64 \(N, 29, 29\) vs float32 \(N, 29, 29\)"),
    "shape": (_case_shape, r"hold different arrays: 'u' is float64 \(N, 29, 29\) vs float64 \(N, 29, 28\)"),
    "x_a": (_case_x_a, r"copy1/.*have different coordinates x_a"),
    "x_u": (_case_x_u, r"copy2/.*have different coordinates x_u"),
    "not hdf5": (_case_not_hdf5, r"train\.shard-1-of-3\.h5: not an HDF5 file"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_merge_refuses_with_one_error_naming_the_files(runs, tmp_path, case):
    build, message = REFUSALS[case]
    inputs = build(runs, tmp_path)
    out = tmp_path / "out"
    with pytest.raises(DgnoError, match=message) as info:
        merge(inputs, out)
    assert "\n" not in str(info.value)
    assert not out.exists() or not any(out.iterdir())  # nothing written, not even a staging folder


def test_a_failed_write_leaves_no_files(runs, tmp_path, monkeypatch):
    """The split files appear together: a failure while writing the third leaves none of them."""
    gen = sys.modules["dgno.reference.generate"]  # the module (dgno.reference.generate is the function)
    real, calls = gen.save_h5, []

    def failing(ds, path):
        calls.append(path)
        if len(calls) == 3:
            raise DgnoError(f"cannot write {path}: disk full")
        return real(ds, path)

    monkeypatch.setattr(gen, "save_h5", failing)
    with pytest.raises(DgnoError, match="disk full"):
        merge([runs / "shards"], tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_cli_merge_reports_one_line_and_fails(runs, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["data", "merge", *map(str, _shard_files(runs, without=2)), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dgno: error: split ") and "2/3 missing" in err and err.count("\n") == 1
    assert main(["data", "merge", str(runs / "shards"), str(runs / "seed8"), "--out", str(out)]) == 2
    assert "differ in seed" in capsys.readouterr().err
    assert main(["data", "merge", str(runs / "shards"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert sorted(printed) == sorted(str(out / f"{s}.h5") for s in PWC.splits)
