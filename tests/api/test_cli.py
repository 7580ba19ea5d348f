"""The command line: happy paths and one-line errors with a non-zero exit for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from dgno.cli import main
from dgno.config import get_preset
from dgno.reference import Dataset, load_h5, save_h5
from dgno.reference.generate import generate_split

GEN = ["--n-train", "1", "--n-val", "1", "--n-test", "1", "--seed", "0", "--workers", "1", "--quiet"]


@pytest.fixture(scope="module")
def good_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("good")
    assert main(["generate", "darcy-pwc", "--out", str(out), *GEN]) == 0
    return out / "test.h5"


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def test_generate_and_info(good_file, capsys):
    assert main(["data", "info", str(good_file)]) == 0
    out = capsys.readouterr().out
    assert "a    float64 (1, 29, 29)" in out and '"preset": "darcy-pwc"' in out


def test_verify_reports_agreement(good_file, tmp_path, capsys):
    report = tmp_path / "v.json"
    assert main(["data", "verify", str(good_file), "--refine", "8", "--workers", "1", "--json", str(report)]) == 0
    result = json.loads(report.read_text())
    assert result["interp"] == "nearest" and result["rel_l2_max"] < 1e-3


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["generate", "darcy-nope", "--out", "{tmp}/x", *GEN], "unknown preset 'darcy-nope'"),
        (["generate", "darcy-pwc", "--out", "{tmp}/file.txt/sub", *GEN], "cannot create output folder"),
        (["generate", "darcy-pwc", "--out", "{tmp}/x", "--shard", "3/2", *GEN], "shard must be i/n"),
        (["generate", "darcy-pwc", "--out", "{tmp}/x", "--shard", "one", *GEN], "shard must look like i/n"),
        (["data", "info", "{tmp}/missing.h5"], "no such file"),
        (["data", "info", "{tmp}/file.txt"], "not an HDF5 file"),
        (["data", "convert", "{tmp}/file.txt", "--out", "{tmp}/c.h5"], "file.txt"),
        (["data", "verify", "{good}", "--solver", "fem", "--refine", "7"], "--refine must be even"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, needle, tmp_path, good_file, capsys):
    (tmp_path / "file.txt").write_text("not data\n")
    argv = [a.format(tmp=tmp_path, good=good_file) for a in argv]
    assert main(argv) == 2
    assert needle in _error(capsys)
    assert not (tmp_path / "x").exists() or not list((tmp_path / "x").glob("*.h5"))


@pytest.mark.parametrize("count", ["0", "-3", "many"])
def test_non_positive_counts_are_rejected_by_the_parser(count, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["generate", "darcy-pwc", "--out", str(tmp_path), "--n-train", count])
    assert exc.value.code == 2
    assert "positive integer" in capsys.readouterr().err


GRID = {"x_a": np.zeros((29, 29, 2)), "x_u": np.zeros((29, 29, 2))}


def _write(path, **arrays):
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f[k] = v
        f.attrs["provenance"] = json.dumps({"a_positive": True})


@pytest.mark.parametrize(
    ("arrays", "needle"),
    [
        ({"a": np.ones((2, 29, 29)), "x_a": np.zeros((29, 29, 2))}, "missing key(s) 'x_u'"),
        ({"a": np.ones((2, 29, 28)), **GRID}, "'a' has shape"),
        ({"a": np.full((2, 29, 29), np.nan), **GRID}, "non-finite"),
        ({"a": -np.ones((2, 29, 29)), **GRID}, "must be positive"),
        ({"a": np.ones((2, 29, 29)), "u": np.ones((3, 29, 29)), **GRID}, "'u' holds 3 samples"),
    ],
)
def test_bad_files_name_the_problem(arrays, needle, tmp_path, capsys):
    path = tmp_path / "bad.h5"
    _write(path, **arrays)
    assert main(["data", "info", str(path)]) == 2
    err = _error(capsys)
    assert needle in err and "bad.h5" in err


def test_truncated_file_is_reported(good_file, tmp_path, capsys):
    data = good_file.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    assert main(["data", "info", str(cut)]) == 2
    assert "cut.h5" in _error(capsys)


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    ds = generate_split(get_preset("darcy-pwc"), "val", [0], seed=0)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(h5py.Group, "create_dataset", boom)
    with pytest.raises(RuntimeError):
        save_h5(ds, tmp_path / "out.h5")
    assert list(tmp_path.iterdir()) == []


def test_overwrite_is_atomic(tmp_path, good_file):
    ds = load_h5(good_file)
    target = tmp_path / "t.h5"
    save_h5(ds, target)
    save_h5(Dataset(a=ds.a * 2, u=ds.u, x_a=ds.x_a, x_u=ds.x_u, attrs=ds.attrs), target)
    np.testing.assert_array_equal(load_h5(target).a, ds.a * 2)
    assert [p.name for p in tmp_path.iterdir()] == ["t.h5"]


def test_console_script_prints_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "dgno.cli", "data", "info", str(tmp_path / "nope.h5")], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"dgno: error: {tmp_path / 'nope.h5'}: no such file"


def test_demo_runs_end_to_end_on_a_tiny_set(tmp_path, capsys):
    """The main job (make demo) at tiny sizes: data, physics-only training, evaluation, inversion, summary."""
    out, data = tmp_path / "demo", tmp_path / "data"
    args = ["demo", "--out", str(out), "--data-dir", str(data), "--minutes", "0.05", "--n-train", "25",
            "--n-val", "3", "--n-test", "3", "--workers", "1", "--invert-method", "map"]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["results"][0]["split"] == "test" and "inversion" in summary
    assert (out / "summary.md").exists() and (out / "inversion" / "posterior.h5").exists()
    capsys.readouterr()
