"""Hostile inputs, property-based (hypothesis): bad configs, data files, reference .mat files and observation files.

Every case must end in a one-line :class:`DgnoError` (through the CLI: exit 2 and one ``dgno: error: ...`` line on
stderr), never a traceback and never an output file that looks valid. Select these tests with ``pytest -k fuzz``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import types
import typing
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
import torch
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dgno.cli import build_parser, main
from dgno.config.schema import Config, load_config
from dgno.errors import DgnoError
from dgno.fields import unit_square_nodes
from dgno.inverse.observations import read_observations
from dgno.invert_cli import observations
from dgno.pdes import Burgers, Darcy
from dgno.reference.dataset import Dataset, load_h5, save_h5
from dgno.reference.matlab import load_reference_mat
from dgno.training.data import load_training_data
from matlab_files import burgers_arrays as viscid_arrays
from matlab_files import companion_arrays, inverse_arrays, pwc_arrays, smh_arrays, write
from matlab_files import write_burgers as write_viscid

ROOT = Path(__file__).resolve().parents[2]
FUZZ = settings(max_examples=30, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FEW = settings(FUZZ, max_examples=8)


# ------------------------------------------------------------------------------------------------ helpers
@pytest.fixture(autouse=True)
def _subnormals():
    """Training in this process (earlier tests, the tiny run below) flushes subnormals to zero on the CPU, and
    hypothesis refuses to draw floats then; turn it off for each of these tests."""
    torch.set_flush_denormal(False)


class Blob(bytes):
    """A file's bytes with a short repr (hypothesis prints the fixtures of a failing example)."""

    def __repr__(self) -> str:
        return f"<{len(self)} bytes>"


def one_line_error(fn, *needles: str) -> str:
    """``fn()`` must raise DgnoError with a one-line message holding every needle."""
    with pytest.raises(DgnoError) as info:
        fn()
    message = str(info.value)
    assert message and "\n" not in message, message
    for needle in needles:
        assert needle in message, (needle, message)
    return message


def error_or_value(fn):
    """``fn()``'s value, or None after a one-line DgnoError; any other exception fails the test."""
    try:
        return fn()
    except DgnoError as exc:
        assert str(exc) and "\n" not in str(exc), str(exc)
        return None


def cli(*argv) -> tuple[int, str]:
    """``dgno ARGV`` in this process: (exit code, stderr). A traceback escapes and fails the test."""
    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse's own errors
            rc = exc.code
    return rc, err.getvalue()


def assert_cli_error(*argv, needle: str = "") -> str:
    rc, err = cli(*argv)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("dgno: error: "), (argv, rc, err)
    assert needle in lines[0], (needle, lines[0])
    return lines[0]


@contextmanager
def scratch():
    with tempfile.TemporaryDirectory(prefix="dgno-fuzz-") as d:
        yield Path(d)


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def damage(raw: bytes, data) -> bytes:
    """``raw`` cut at a random byte, with random bytes overwritten, or replaced by random bytes."""
    how = data.draw(st.sampled_from(["cut", "flip", "random"]), label="damage")
    if how == "cut":
        return raw[: data.draw(st.integers(0, len(raw) - 1), label="cut at")]
    if how == "flip":
        b = bytearray(raw)
        for i, v in data.draw(st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)), min_size=1,
                                       max_size=8), label="flips"):
            b[i] = v
        return bytes(b)
    head = data.draw(st.sampled_from([b"", raw[:8], raw[:512]]), label="kept header")
    return head + data.draw(st.binary(max_size=1024), label="random bytes")


texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), texts)
nested = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
                      max_leaves=8)


# ----------------------------------------------------------------------------------------- 1. the config
def _walk(cls=Config, prefix: str = "") -> tuple[dict[str, typing.Any], dict[str, type]]:
    """{dotted key: type} of every leaf field, {dotted section: dataclass} of every section ('' the root)."""
    leaves, sections = {}, {prefix.rstrip("."): cls}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            sub_leaves, sub_sections = _walk(tp, f"{prefix}{f.name}.")
            leaves.update(sub_leaves)
            sections.update(sub_sections)
        else:
            leaves[prefix + f.name] = tp
    return leaves, sections


LEAVES, SECTIONS = _walk()


def _base(tp) -> type:
    """The type of a field without its None option: int, float, str, bool, tuple or dict."""
    union = typing.get_origin(tp) in (typing.Union, types.UnionType)
    args = [a for a in typing.get_args(tp) if a is not type(None)] if union else [tp]
    (only,) = args if len(args) == 1 else (tp,)
    origin = typing.get_origin(only)
    return origin if origin in (tuple, dict) else only


def _tuple_of_str(tp) -> bool:
    """Whether a field's type is a tuple of strings (with or without None)."""
    args = typing.get_args(tp)
    union = typing.get_origin(tp) in (typing.Union, types.UnionType)
    inner = [a for a in args if a is not type(None)] if union else [tp]
    return any(typing.get_origin(a) is tuple and typing.get_args(a)[:1] == (str,) for a in inner)


def nested_dict(key: str, value) -> dict:
    out: dict = {}
    node = out
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return out


def yaml_flow(value) -> str:
    """``value`` as the text of an override (one YAML flow value)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return text.removesuffix("...").strip()


def _not_a_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return True
    return False


lists_or_maps = st.lists(st.integers(), min_size=1, max_size=3) | st.dictionaries(texts, st.integers(), min_size=1,
                                                                                   max_size=2)
WRONG = {
    int: st.floats() | texts | st.booleans() | lists_or_maps,
    float: texts.filter(_not_a_float) | st.booleans() | lists_or_maps,
    str: st.integers() | st.floats() | st.booleans() | lists_or_maps,
    bool: st.integers() | st.floats() | texts | lists_or_maps,
    tuple: st.integers() | texts | st.dictionaries(texts, st.integers(), min_size=1, max_size=2)
    | st.lists(st.floats() | texts | st.booleans(), min_size=1, max_size=3),
    dict: st.integers() | texts | st.lists(st.integers(), min_size=1, max_size=3),
}


@FUZZ
@given(data=st.data())
def test_fuzz_config_unknown_keys(data):
    """An unknown key at any level, in a file or an override, is named with its section."""
    section = data.draw(st.sampled_from(sorted(SECTIONS)), label="section")
    known = {f.name for f in dataclasses.fields(SECTIONS[section])}
    key = data.draw(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True).filter(lambda k: k not in known),
                    label="key")
    dotted = f"{section}.{key}" if section else key
    value = data.draw(st.integers() | texts | st.none(), label="value")
    one_line_error(lambda: load_config(None, [f"{dotted}={yaml_flow(value)}"]), "unknown config key", dotted)
    with scratch() as d:
        path = d / "cfg.yaml"
        path.write_text(yaml.safe_dump(nested_dict(dotted, value)))
        one_line_error(lambda: load_config(path), "unknown config key", dotted)


@FUZZ
@given(data=st.data())
def test_fuzz_config_wrong_types(data):
    """Strings for ints, lists for floats, mappings for scalars, ...: the error names the key."""
    key = data.draw(st.sampled_from(sorted(LEAVES)), label="key")
    value = data.draw(WRONG[_base(LEAVES[key])], label="value")
    # a list of strings is the right type for a tuple of names (model.token_fields): not a wrong value there
    assume(not (isinstance(value, list) and all(isinstance(v, str) for v in value) and _tuple_of_str(LEAVES[key])))
    with scratch() as d:
        path = d / "cfg.yaml"
        path.write_text(yaml.safe_dump(nested_dict(key, value)))
        one_line_error(lambda: load_config(path), f"config key {key}")
    one_line_error(lambda: load_config(None, [f"{key}={yaml_flow(value)}"]), key)


POSITIVE_INTS = ["train.batch_size", "train.step_size", "train.precondition_frequency", "train.val_every",
                 "train.log_every", "train.checkpoint_every", "train.threads", "data.n_train", "model.latent_dim",
                 "physics.particles", "physics.levels",
                 "physics.quadrature_n", *(f"model.{n}.{k}" for n in ("field", "a_decoder") for k in ("width", "depth",
                                                                                                     "n_sum")),
                 *(f"model.fno.{k}" for k in ("modes", "width", "layers", "proj"))]
NONNEGATIVE_INTS = ["train.steps", "train.seed", "data.n_labeled", "model.fno.padding"]
WIDTHS = ["model.latent_dim", "model.field.width", "model.a_decoder.width", "model.fno.width", "model.fno.proj"]
POSITIVE_FLOATS = ["train.lr", "train.gamma", "train.val_seconds", "train.max_minutes", "model.a_sigma",
                   "physics.r_min", "physics.r_max", "physics.labeled_sigma"]
NONNEGATIVE_FLOATS = ["train.weight_decay", "physics.residual_weight", "physics.boundary_weight", "physics.kl_weight",
                      "physics.precisions.weak", "data.memory_budget_mb"]
FINITE_FLOATS = ["physics.source", "model.a_lo", "model.a_hi"]
UNIT_FLOATS = ["train.ema"]  # a decay: in the open interval (0, 1)
NOT_FINITE = st.sampled_from([".nan", ".inf", "-.inf", "nan", "inf", "-inf", "NaN", "1e400", "-1e400"])


def test_fuzz_config_tables_cover_every_number():
    """The tables of the range tests name every numeric field of the schema (a new one needs a row)."""
    numeric = {k for k, tp in LEAVES.items() if _base(tp) in (int, float)} | {"physics.precisions.weak"}
    tables = {*POSITIVE_INTS, *NONNEGATIVE_INTS, *POSITIVE_FLOATS, *NONNEGATIVE_FLOATS, *FINITE_FLOATS, *UNIT_FLOATS}
    assert numeric - {"physics.smoothness"} <= tables  # smoothness (2 or 4) is checked where the layout is built


@FUZZ
@given(data=st.data())
def test_fuzz_config_out_of_range_numbers(data):
    """NaN / inf, negative or zero sizes, lr <= 0, absurdly large counts and widths: named key, one line."""
    kind = data.draw(st.sampled_from(["pos_int", "nonneg_int", "width", "pos_float", "nonneg_float", "finite", "unit",
                                      "list"]))
    if kind in ("pos_int", "nonneg_int"):
        key = data.draw(st.sampled_from(POSITIVE_INTS if kind == "pos_int" else NONNEGATIVE_INTS), label="key")
        low = st.integers(max_value=0 if kind == "pos_int" else -1)
        text = str(data.draw(low | st.integers(min_value=2**63, max_value=2**200), label="value"))
    elif kind == "width":
        key = data.draw(st.sampled_from(WIDTHS), label="key")
        text = str(data.draw(st.integers(10**5, 10**12), label="value"))
    elif kind in ("pos_float", "nonneg_float"):
        key = data.draw(st.sampled_from(POSITIVE_FLOATS if kind == "pos_float" else NONNEGATIVE_FLOATS), label="key")
        bad = st.floats(max_value=0.0 if kind == "pos_float" else -1e-300, allow_nan=False).map(repr)
        text = data.draw(bad | NOT_FINITE, label="value")
    elif kind == "finite":
        key = data.draw(st.sampled_from(FINITE_FLOATS), label="key")
        text = data.draw(NOT_FINITE, label="value")
    elif kind == "unit":
        key = data.draw(st.sampled_from(UNIT_FLOATS), label="key")
        outside = st.floats(max_value=0.0, allow_nan=False) | st.floats(min_value=1.0, allow_nan=False)
        text = data.draw(outside.map(repr) | NOT_FINITE, label="value")
    else:
        name = data.draw(st.sampled_from(["hidden", "fc", "channels"]), label="list")
        key = f"model.encoder.{name}"
        good = st.integers(1, 64)
        items = data.draw(st.lists(good, max_size=3), label="items")
        bad = data.draw(st.integers(max_value=0) | st.integers(10**5, 10**9), label="bad item")
        items.insert(data.draw(st.integers(0, len(items))), bad)
        text = json.dumps([1, *items] if name == "channels" else items)
    one_line_error(lambda: load_config(None, [f"{key}={text}"]), key.rsplit(".", 1)[0])


@FUZZ
@given(lo=st.floats(1e-9, 1e3), factor=st.floats(1.0001, 1e6), data=st.data())
def test_fuzz_config_inconsistent_pairs(lo, factor, data):
    """r_min > r_max and a_lo >= a_hi are refused; r_min <= r_max and a_lo < a_hi load."""
    hi = lo * factor
    one_line_error(lambda: load_config(None, [f"physics.r_min={hi!r}", f"physics.r_max={lo!r}"]), "physics.r_min")
    one_line_error(lambda: load_config(None, [f"model.a_lo={hi!r}", f"model.a_hi={lo!r}"]), "model.a_lo")
    cfg = load_config(None, [f"physics.r_min={lo!r}", f"physics.r_max={hi!r}", f"model.a_lo={lo!r}",
                             f"model.a_hi={hi!r}"])
    assert (cfg.physics.r_min, cfg.physics.r_max, cfg.model.a_lo, cfg.model.a_hi) == (lo, hi, lo, hi)


@FUZZ
@given(steps=st.integers(0, 10**9), batch=st.integers(1, 4096), lr=st.floats(1e-9, 10.0), width=st.integers(1, 1024),
       seed=st.integers(0, 2**63 - 1), minutes=st.none() | st.floats(1e-3, 1e5), weight=st.floats(0.0, 1e6))
def test_fuzz_config_in_range_values_load(steps, batch, lr, width, seed, minutes, weight):
    """The range checks refuse nothing reasonable."""
    cfg = load_config(None, [f"train.steps={steps}", f"train.batch_size={batch}", f"train.lr={lr!r}",
                             f"model.field.width={width}", f"model.encoder.hidden=[{width}, {width}]",
                             f"train.seed={seed}", f"train.max_minutes={json.dumps(minutes)}",
                             f"physics.kl_weight={weight!r}"])
    assert (cfg.train.steps, cfg.train.batch_size, cfg.train.lr, cfg.model.field.width) == (steps, batch, lr, width)
    assert cfg.train.max_minutes == minutes and cfg.train.seed == seed


BAD_YAML = ["", "~\n", "# only a comment\n", "- 1\n- 2\n", "42\n", "just text\n", "[" * 3000, "{" * 3000,
            "train: [1, 2\n", "a: !!float abc\n", "a: !!int abc\n", "a: !!bool maybe\n", "a: !!timestamp abc\n",
            "a: !!python/name:os.system\n", "1: 2\n", "null: 3\n", "train: {1: 2}\n", "train: null\n",
            "train: {steps: &x [*x]}\n", "? [1, 2]\n: 3\n", "train:\n\tsteps: 1\n"]


@FUZZ
@given(content=st.sampled_from(BAD_YAML) | st.text(max_size=200) | st.binary(max_size=200)
       | nested.map(lambda v: yaml.safe_dump(v)))
def test_fuzz_config_file_garbage(content):
    """Whatever a config file holds: a Config or a one-line DgnoError (empty, non-mapping, invalid YAML, bad bytes)."""
    with scratch() as d:
        path = d / "cfg.yaml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode("utf-8", "surrogatepass"))
        cfg = error_or_value(lambda: load_config(path))
        assert cfg is None or isinstance(cfg, Config)
    if content in BAD_YAML:
        assert cfg is None, content


BAD_OVERRIDES = ["train.steps", "=", "train..x=1", ".x=1", "x.=1", "train.steps.x=1", "train=[1]",
                 "model.encoder.hidden=[[", "train.lr=!!float abc", "train.seed=!!bool maybe"]


@FUZZ
@given(items=st.lists(st.text(max_size=40) | st.sampled_from(BAD_OVERRIDES), min_size=1, max_size=4))
def test_fuzz_config_override_garbage(items):
    assert error_or_value(lambda: load_config(None, items)) is None or all("=" in i for i in items)


@FEW
@given(data=st.data())
def test_fuzz_cli_train_refuses_bad_config_without_output(data):
    """``dgno train cfg.yaml key=value``: exit 2, one line, and no run folder."""
    key = data.draw(st.sampled_from(POSITIVE_INTS + POSITIVE_FLOATS + ["train.nope", "model.encoder.hidden"]))
    value = data.draw(st.sampled_from(["-1", "0", "nan", "abc", "[1, 2]", "{a: 1}"]))
    assume(not (key == "model.encoder.hidden" and value == "[1, 2]"))
    with scratch() as d:
        cfg = d / "cfg.yaml"
        cfg.write_text("train: {steps: 1}\n")
        out = d / "run"
        assert_cli_error("train", cfg, f"{key}={value}", "--out", out, "--quiet", needle=key.rsplit(".", 1)[0])
        assert not out.exists()


# ------------------------------------------------------------------------------------ 2. data files (HDF5)
N_SAMPLES, RES = 3, 5
X5 = unit_square_nodes(RES)


def tiny_dataset(n: int = N_SAMPLES, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    return Dataset(a=rng.uniform(5, 10, (n, RES, RES)), u=rng.normal(size=(n, RES, RES)), x_a=X5, x_u=X5,
                   attrs={"preset": "tiny", "a_positive": True})


@pytest.fixture(scope="module")
def good_h5(tmp_path_factory) -> bytes:
    return Blob(save_h5(tiny_dataset(), tmp_path_factory.mktemp("h5") / "good.h5").read_bytes())


def assert_whole(ds: Dataset) -> None:
    """What a file that loads must satisfy: consistent shapes, real finite values."""
    assert ds.a.shape[1:] == ds.x_a.shape[:-1] and ds.x_a.ndim >= 2 and ds.x_u.ndim >= 2
    for arr in (ds.a, ds.u, ds.x_a, ds.x_u):
        if arr is not None:
            assert arr.dtype.kind in "iuf" and np.all(np.isfinite(arr))
    if ds.u is not None:
        assert ds.u.shape[0] == ds.a.shape[0] and ds.u.shape[1 : ds.x_u.ndim] == ds.x_u.shape[:-1]
    assert isinstance(ds.attrs, dict)


@FUZZ
@given(data=st.data())
def test_fuzz_h5_damaged_bytes(good_h5, data):
    """A split file cut at a random byte, with bytes overwritten, or random bytes: DgnoError or a whole data set."""
    raw = damage(good_h5, data)
    with scratch() as d:
        path = d / "split.h5"
        path.write_bytes(raw)
        ds = error_or_value(lambda: load_h5(path, require_u=True))
        if ds is not None:
            assert_whole(ds)
        if len(raw) < len(good_h5) // 2:  # most of the file gone
            assert ds is None


def _replace(f: h5py.File, key: str, value) -> None:
    if key in f:
        del f[key]
    if isinstance(value, str):  # "group"
        f.create_group(key)
    elif value is not None:
        f.create_dataset(key, data=value)


ANY_ARRAY = hnp.arrays(dtype=st.sampled_from([np.float64, np.float32, np.int32, np.uint8, np.complex128, np.bool_,
                                              np.dtype("S3"), np.dtype([("p", "f8"), ("q", "i4")])]),
                       shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6))


@FUZZ
@given(key=st.sampled_from(["a", "u", "x_a", "x_u", "extras", "extras/triangles"]),
       value=st.none() | st.just("group") | ANY_ARRAY,
       provenance=st.none() | st.just("keep") | texts | nested.map(json.dumps) | st.integers(-(2**62), 2**62))
def test_fuzz_h5_wrong_shapes_dtypes_and_keys(good_h5, key, value, provenance):
    """A dataset missing, replaced by a group or an array of another shape/dtype, or a bad provenance attribute."""
    with scratch() as d:
        path = d / "split.h5"
        path.write_bytes(good_h5)
        with h5py.File(path, "a") as f:
            _replace(f, key, value)
            if provenance != "keep":
                del f.attrs["provenance"]
                if provenance is not None:
                    f.attrs["provenance"] = provenance
        ds = error_or_value(lambda: load_h5(path))
        if ds is not None:
            assert_whole(ds)
        if key in ("a", "x_a", "x_u") and not isinstance(value, np.ndarray):  # removed, or a group
            assert ds is None
        if key in ("a", "u", "x_a", "x_u") and isinstance(value, np.ndarray) and value.dtype.kind not in "iuf":
            assert ds is None


@FEW
@given(data=st.data())
def test_fuzz_cli_data_info_refuses_damaged_files(good_h5, data):
    raw = damage(good_h5, data)
    with scratch() as d:
        path = d / "split.h5"
        path.write_bytes(raw)
        rc, err = cli("data", "info", path)
        assert rc in (0, 2) and "Traceback" not in err
        if rc == 2:
            assert len(err.strip().splitlines()) == 1 and err.startswith("dgno: error: ")


def test_fuzz_cli_data_info_of_an_empty_shard(tmp_path):
    path = save_h5(tiny_dataset(n=0), tmp_path / "train.shard-0-of-2.h5")
    assert cli("data", "info", path)[0] == 0


def _training_folder(d: Path, *, train: Dataset | None = None, val: Dataset | None = None) -> Path:
    save_h5(train or tiny_dataset(seed=1), d / "train.h5")
    save_h5(val or tiny_dataset(seed=2), d / "val.h5")
    return d


@FUZZ
@given(n_train=st.none() | st.integers(-(2**70), 2**70), n_labeled=st.integers(-(2**70), 2**70),
       preset=st.none() | st.sampled_from(["tiny", "darcy-pwc", ""]), val_change=st.sampled_from(
           ["none", "grid", "channels", "empty", "nan", "no u"]))
def test_fuzz_training_data_values(n_train, n_labeled, preset, val_change):
    """data.n_train / n_labeled / preset against the files, and a val.h5 that does not match train.h5."""
    val = tiny_dataset(seed=2)
    if val_change == "grid":
        x = unit_square_nodes(RES + 1)
        val = Dataset(a=np.ones((2, RES + 1, RES + 1)), u=np.ones((2, RES + 1, RES + 1)), x_a=x, x_u=x)
    elif val_change == "channels":
        val = Dataset(a=val.a, u=np.stack([val.u, val.u], -1), x_a=X5, x_u=X5, attrs=val.attrs)
    elif val_change == "empty":
        val = tiny_dataset(n=0)
    elif val_change == "nan":
        val.u[1, 2, 3] = np.nan
    elif val_change == "no u":
        val = Dataset(a=val.a, u=None, x_a=X5, x_u=X5, attrs=val.attrs)
    with scratch() as d:
        folder = _training_folder(d, val=val)
        data = error_or_value(lambda: load_training_data(folder, preset=preset, n_train=n_train, n_labeled=n_labeled))
    valid_counts = (n_train is None or 1 <= n_train <= N_SAMPLES) and 0 <= n_labeled <= (n_train or N_SAMPLES)
    expected_ok = valid_counts and preset in (None, "tiny") and (val_change == "none" or (
        val_change == "channels" and n_labeled == 0))
    assert (data is not None) == expected_ok, (n_train, n_labeled, preset, val_change)
    if data is not None:
        assert data.a.shape[0] == (n_train or N_SAMPLES) and int(data.labeled.sum()) == n_labeled


@FUZZ
@given(data=st.data())
def test_fuzz_training_data_damaged_val(good_h5, data):
    with scratch() as d:
        folder = _training_folder(d)
        (folder / "val.h5").write_bytes(damage(good_h5, data))
        error_or_value(lambda: load_training_data(folder))


@settings(FUZZ, report_multiple_bugs=False)
@given(data=st.data(), structural=st.booleans())
def test_fuzz_training_data_damaged_train(good_h5, data, structural):
    with scratch() as d:
        folder = _training_folder(d)
        if structural:
            with h5py.File(folder / "train.h5", "a") as f:
                _replace(f, "a", data.draw(st.just("group") | st.just(1.0) | ANY_ARRAY))
        else:
            (folder / "train.h5").write_bytes(damage(good_h5, data))
        error_or_value(lambda: load_training_data(folder, n_labeled=data.draw(st.integers(0, 1))))


# ------------------------------------------------------------------------------ 2b. reference .mat files
MAT_LAYOUTS = {"smh": smh_arrays, "pwc": pwc_arrays, "pwc-companion": companion_arrays, "inverse": inverse_arrays,
               "viscid": viscid_arrays}


@pytest.fixture(scope="module")
def good_mats(tmp_path_factory) -> dict[tuple[str, str], bytes]:
    d = tmp_path_factory.mktemp("mat")
    out = {}
    for layout, arrays in MAT_LAYOUTS.items():
        for version in ("v5", "v5z", "v73"):
            name = f"pwc_{layout}_{version}.mat" if layout == "inverse" else f"{layout}_{version}.mat"
            path = _write_mat(d / name, layout, arrays(), version)
            assert len(load_reference_mat(path)) >= 1
            out[layout, version] = Blob(path.read_bytes())
    return out


def _write_mat(path: Path, layout: str, arrays: dict, version: str) -> Path:
    """A .mat file as the reference authors wrote this layout (MATLAB or Python, v5, compressed v5 or v7.3)."""
    if version == "v5z":
        scipy.io.savemat(path, arrays, do_compression=True)
        return path
    if layout == "viscid":
        return write_viscid(path, arrays, version)
    return write(path, arrays, version, matlab=layout not in ("inverse", "pwc"))


def assert_converts_or_refuses(path: Path, out: Path) -> int:
    """``dgno data convert``: exit 0 with a loadable file, or exit 2, one line and no file (nor temporary file)."""
    rc, err = cli("data", "convert", path, "--out", out)
    assert rc in (0, 2) and "Traceback" not in err, err
    if rc == 2:
        assert len(err.strip().splitlines()) == 1 and err.startswith("dgno: error: "), err
        assert not out.exists() and files_in(out.parent) == [], files_in(out.parent)
    else:
        assert_whole(load_h5(out))
    return rc


@FUZZ
@given(data=st.data())
def test_fuzz_mat_damaged_bytes(good_mats, data):
    """Truncated, overwritten or random .mat bytes: DgnoError, or a whole data set; convert leaves no file."""
    layout, version = data.draw(st.sampled_from(sorted(good_mats)), label="file")
    raw = damage(good_mats[layout, version], data)
    with scratch() as d:
        path = d / ("pwc_inverse.mat" if layout == "inverse" else "in.mat")
        path.write_bytes(raw)
        given_layout = data.draw(st.sampled_from(["auto", layout]), label="layout")
        ds = error_or_value(lambda: load_reference_mat(path, layout=given_layout))
        if ds is not None:
            assert_whole(ds)
            assert len(ds) >= 1
        if data.draw(st.booleans(), label="through the CLI"):
            assert_converts_or_refuses(path, d / "out" / "x.h5")


@FUZZ
@given(layout=st.sampled_from(sorted(MAT_LAYOUTS)),
       flips=st.lists(st.tuples(st.integers(128, 383), st.integers(0, 255)), min_size=1, max_size=3))
def test_fuzz_mat_v5_headers(good_mats, layout, flips):
    """Damaged headers of a v5 file's first variables (type, flags, dims, name, data tags): scipy's reader trusts the
    dims and read past the data (a segfault: one byte at offset 177 of a viscid file); a one-line error instead."""
    raw = bytearray(good_mats[layout, "v5"])
    for i, v in flips:
        raw[i] = v
    with scratch() as d:
        path = d / ("pwc_inverse.mat" if layout == "inverse" else "in.mat")
        path.write_bytes(bytes(raw))
        ds = error_or_value(lambda: load_reference_mat(path))
    if ds is not None:
        assert_whole(ds)


def test_fuzz_mat_v5_dims_past_the_data(good_mats, tmp_path):
    """The case found by the fuzzer: the data type of viscid's u0 damaged (byte 177) made scipy segfault."""
    raw = bytearray(good_mats["viscid", "v5"])
    raw[177] = 135
    path = tmp_path / "viscid_train.mat"
    path.write_bytes(bytes(raw))
    one_line_error(lambda: load_reference_mat(path), "viscid_train.mat: unreadable or truncated MAT file", "'u0'")


identifiers = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True)


@FUZZ
@given(keys=st.dictionaries(identifiers, st.sampled_from([(3,), (3, 841), (29, 29), (1, 3)]), min_size=1, max_size=4),
       version=st.sampled_from(["v5", "v73"]), layout=st.sampled_from(["auto", *MAT_LAYOUTS]))
def test_fuzz_mat_wrong_keys(keys, version, layout):
    """A .mat file with keys of no layout: DgnoError naming the keys found (or the missing ones)."""
    assume(not {"coe", "coeff", "u0", "x", "gridx"} & set(keys))
    with scratch() as d:
        path = write(d / "keys.mat", {k: np.ones(shape) for k, shape in keys.items()}, version)
        message = one_line_error(lambda: load_reference_mat(path, layout=layout), path.name)
        assert ("unrecognised MAT key set" if layout == "auto" else "missing key") in message
        assert_converts_or_refuses(path, d / "out" / "x.h5")


@FUZZ
@given(layout=st.sampled_from(sorted(MAT_LAYOUTS)), version=st.sampled_from(["v5", "v73"]), data=st.data())
def test_fuzz_mat_wrong_shapes_and_dtypes(layout, version, data):
    """One array of a valid file replaced (other shape or dtype, NaN, complex, strings, a cell) or removed."""
    arrays = MAT_LAYOUTS[layout]()
    key = data.draw(st.sampled_from(sorted(arrays)), label="key")
    how = data.draw(st.sampled_from(["shape", "dtype", "nan", "empty", "remove", "cell"]), label="how")
    old = np.asarray(arrays[key])
    if how == "shape":
        arrays[key] = data.draw(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=9),
                                           elements=st.floats(0.5, 10.0)))
    elif how == "dtype":
        dtype = data.draw(st.sampled_from([np.complex128, np.dtype("U2" if version == "v5" else "S2")]))
        arrays[key] = np.ones(old.shape, dtype=dtype)
    elif how == "nan":
        arrays[key] = old.astype(float).copy()
        arrays[key].flat[data.draw(st.integers(0, old.size - 1))] = data.draw(st.sampled_from([np.nan, np.inf]))
    elif how == "empty":
        arrays[key] = old[:0]
    elif how == "remove":
        del arrays[key]
    else:
        if version == "v73":  # h5py writes no cells; a MATLAB cell in v7.3 is a dataset of references
            return
        arrays[key] = np.array([np.ones(2), "x"], dtype=object)
    with scratch() as d:
        name = "pwc_inverse.mat" if layout == "inverse" else f"{layout}.mat"
        path = _write_mat(d / name, layout, arrays, version)
        ds = error_or_value(lambda: load_reference_mat(path))
        if ds is not None:
            assert_whole(ds)
            assert len(ds) >= 1
        if how in ("dtype", "nan", "cell", "empty"):
            assert ds is None, (layout, key, how)
        assert_converts_or_refuses(path, d / "out" / "x.h5")


def test_fuzz_mat_convert_in_a_subprocess(tmp_path):
    """The real command line: random bytes as a .mat file end in exit 2, one stderr line, no output file."""
    bad = tmp_path / "bad.mat"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    out = tmp_path / "out" / "x.h5"
    proc = subprocess.run([sys.executable, "-m", "dgno", "data", "convert", str(bad), "--out", str(out)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().startswith("dgno: error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_fuzz_config_in_a_subprocess(tmp_path):
    """The real command line: a config file of random bytes ends in exit 2 and one stderr line."""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_bytes(b"train:\n  steps: \xff\xfe\n")
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "dgno", "train", str(cfg), "--out", str(out)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip() == f"dgno: error: {cfg}: not a UTF-8 text file (byte 16)"
    assert not out.exists()


# ------------------------------------------------------------------------------------ 3. observation files
DOMAINS = {"darcy": (Darcy().domain, ("x", "y")), "burgers": (Burgers().domain, ("x", "t"))}
finite = st.floats(allow_nan=False, allow_infinity=False, width=32)


def _csv(header: list[str], rows: list[list]) -> str:
    return "\n".join([",".join(header), *(",".join(str(v) for v in row) for row in rows)]) + "\n"


def _inside(domain, k: int, data) -> list[list[float]]:
    """k distinct points inside the domain's box (Darcy's and Burgers' domains are their boxes)."""
    pts = data.draw(st.lists(st.tuples(*(st.floats(lo, hi) for lo, hi in zip(domain.lower, domain.upper,
                                                                              strict=True))),
                             min_size=k, max_size=k, unique=True), label="points")
    return [list(p) for p in pts]


@FUZZ
@given(problem=st.sampled_from(sorted(DOMAINS)), k=st.integers(1, 6), data=st.data(),
       flaw=st.sampled_from(["nan", "inf", "outside", "duplicate", "empty", "header only", "no value column",
                             "missing coordinate", "duplicate column", "short row", "long row", "text value",
                             "sigma nan", "sigma negative", "sigma differs"]))
def test_fuzz_observations_csv_flaws(problem, k, data, flaw):
    """Each flaw of a measurement CSV is refused with a one-line error naming the file."""
    domain, names = DOMAINS[problem]
    header = [*names, "u"]
    rows = [[*p, data.draw(finite, label="u")] for p in _inside(domain, k, data)]
    i = data.draw(st.integers(0, k - 1), label="row")
    needle = ""
    if flaw in ("nan", "inf"):
        rows[i][data.draw(st.integers(0, 2))] = data.draw(st.sampled_from(["nan", "NaN", "inf", "-inf", "1e400"]))
        needle = "not finite"
    elif flaw == "outside":
        axis = data.draw(st.integers(0, 1))
        span = domain.upper[axis] - domain.lower[axis]
        rows[i][axis] = data.draw(st.floats(domain.upper[axis] + 1e-6 * span, 1e30)
                                  | st.floats(-1e30, domain.lower[axis] - 1e-6 * span))
        needle = "outside the domain"
    elif flaw == "duplicate":
        rows.insert(data.draw(st.integers(0, k)), [*rows[i][:2], data.draw(finite)])
        needle = "same point"
    elif flaw == "empty":
        header, rows = [], []
    elif flaw == "header only":
        rows, needle = [], "no observations"
    elif flaw == "no value column":
        header[2] = data.draw(identifiers.filter(lambda s: s not in ("u", *names, "sigma")))
        needle = "lacks column"
    elif flaw == "missing coordinate":
        header[1] = data.draw(identifiers.filter(lambda s: s not in ("u", *names, "x0", "x1", "sigma")))
        needle = "lacks column"
    elif flaw == "duplicate column":
        header.append(data.draw(st.sampled_from(header)))
        rows = [[*r, 0.5] for r in rows]
        needle = "more than once"
    elif flaw == "short row":
        rows[i] = rows[i][: data.draw(st.integers(1, 2))]
        needle = "value(s) but the header"
    elif flaw == "long row":
        rows[i] = [*rows[i], *data.draw(st.lists(finite, min_size=1, max_size=3))]
        needle = "value(s) but the header"
    elif flaw == "text value":
        rows[i][data.draw(st.integers(0, 2))] = data.draw(identifiers.filter(_not_a_float))
        needle = "not a number"
    else:
        header.append("sigma")
        sigma = {"sigma nan": "nan", "sigma negative": repr(-data.draw(st.floats(0, 1e6))), "sigma differs": "0.1"}
        rows = [[*r, sigma[flaw]] for r in rows]
        if flaw == "sigma differs":
            rows.append([*_inside(domain, 1, data)[0], 0.0, "0.2"])
            assume(len({tuple(r[:2]) for r in rows}) == len(rows))
        needle = "sigma"
    with scratch() as d:
        path = d / "obs.csv"
        path.write_text(_csv(header, rows))
        one_line_error(lambda: read_observations(path, domain=domain, outputs=("u",)), "obs.csv", needle)


@FUZZ
@given(problem=st.sampled_from(sorted(DOMAINS)),
       content=st.binary(max_size=300) | st.text(max_size=300) | st.sampled_from(
           ["x,y,u\n0.5,0.5," + "1" * 200_000 + "\n", "x,y,u\n0.5,0.5,1\x00\n", '"x,y,u\n0.5,0.5,1\n',
            "\ufeffx,y,u\n0.5,0.5,1\n"]))
def test_fuzz_observations_csv_garbage(problem, content):
    """Whatever the CSV holds: points in the domain, distinct and finite, or a one-line error."""
    domain, _ = DOMAINS[problem]
    with scratch() as d:
        path = d / "obs.csv"
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
        f = error_or_value(lambda: read_observations(path, domain=domain, outputs=("u",)))
    if f is not None:
        assert len(f.x) >= 1 and f.x.shape[0] == f.y.shape[0] and np.all(np.isfinite(f.x)) and np.all(
            np.isfinite(f.y))
        assert len(np.unique(f.x, axis=0)) == len(f.x)


@FUZZ
@given(data=st.data(), problem=st.sampled_from(sorted(DOMAINS)))
def test_fuzz_observations_h5(data, problem):
    """HDF5 measurements: a group, strings, complex, mismatched lengths, bad sigma, damaged bytes."""
    domain, _ = DOMAINS[problem]
    x = np.array(_inside(domain, 4, data))
    with scratch() as d:
        path = d / "obs.h5"
        with h5py.File(path, "w") as f:
            f["x"], f["u"] = x, np.zeros(4)
            key = data.draw(st.sampled_from(["x", "u", "sigma"]), label="key")
            value = data.draw(st.none() | st.just("group") | ANY_ARRAY | texts, label="value")
            if value is None and key != "sigma":
                del f[key]
            elif isinstance(value, str) and value != "group":
                f.attrs["sigma"] = value
            elif value is not None:
                _replace(f, key, value)
        if data.draw(st.booleans(), label="damage bytes"):
            path.write_bytes(damage(path.read_bytes(), data))
        f = error_or_value(lambda: read_observations(path, domain=domain, outputs=("u",)))
    if f is not None:
        assert np.all(np.isfinite(f.x)) and np.all(np.isfinite(f.y)) and len(f.x) == len(f.y) >= 1
        assert f.sigma is None or (np.all(np.isfinite(f.sigma)) and np.all(f.sigma > 0))


@FUZZ
@given(data=st.data(), sigma=st.none() | st.floats(allow_nan=True), snr=st.none() | st.floats(allow_nan=True))
def test_fuzz_invert_observations_and_noise(data, sigma, snr):
    """`dgno invert --obs FILE [--sigma S] [--snr DB]`'s observations: valid ones, or a one-line error."""
    domain, names = DOMAINS["darcy"]
    rows = [[*p, data.draw(finite)] for p in _inside(domain, data.draw(st.integers(1, 5)), data)]
    with scratch() as d:
        path = d / "obs.csv"
        path.write_text(_csv([*names, "u"], rows))
        argv = ["invert", "run", "--obs", str(path), "--out", str(d / "out")]
        argv += [] if sigma is None else [f"--sigma={sigma!r}"]
        argv += [] if snr is None else [f"--snr={snr!r}"]
        args = build_parser().parse_args(argv)
        out = error_or_value(lambda: observations(args, None, Darcy(), ("u",)))
    if sigma is not None:
        expected = snr is None and math.isfinite(sigma) and sigma > 0
    else:
        snr_ok = snr is None or (math.isfinite(snr) and -20 <= snr <= 200)
        expected = snr_ok and bool(np.any(np.asarray(rows)[:, 2]))  # an SNR needs a signal
    assert (out is not None) == expected, (sigma, snr)
    if out is not None:
        obs, truth = out
        assert truth is None and np.all(np.isfinite(obs.sigma)) and np.all(obs.sigma > 0)


@pytest.fixture
def tiny_run(pwc_run):
    return pwc_run


@pytest.mark.parametrize("content, needle", [
    ("", "lacks column"),
    ("x,y,u\n", "no observations"),
    ("x,y,u\n0.5,0.5,nan\n", "not finite"),
    ("x,y,u\n0.5,1.5,0.1\n", "outside the domain"),
    ("x,y,u\n0.5,0.5,0.1\n0.5,0.5,0.2\n", "same point"),
    ("x,y,zz\n0.5,0.5,0.1\n", "lacks column"),
    ("x,y,u,u\n0.5,0.5,0.1,0.2\n", "more than once"),
    ("x,y,u\n0.5,0.5\n", "value(s) but the header"),
    ("x,y,u,sigma\n0.5,0.5,0.1,-1\n", "sigma"),
], ids=["empty", "header-only", "nan", "outside", "duplicate", "wrong-column", "twice", "short-row", "sigma"])
def test_fuzz_invert_cli_refuses_bad_observation_files(tiny_run, tmp_path, content, needle):
    """`dgno invert RUN --obs bad.csv`: exit 2, one line, no output folder."""
    path = tmp_path / "obs.csv"
    path.write_text(content)
    out = tmp_path / "inversion"
    assert_cli_error("invert", tiny_run, "--obs", path, "--out", out, "--method", "map", "--threads", "1",
                     needle=needle)
    assert not out.exists()

