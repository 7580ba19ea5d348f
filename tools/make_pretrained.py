"""Package a trained run as a pretrained model shipped with dgno: src/dgno/pretrained/<preset>/.

    python tools/make_pretrained.py --run runs/pwc_quick_soap --preset darcy-pwc --data-dir data/darcy-pwc \
        --inversion benchmarks/results/inverse_pretrained_darcy-pwc.json

writes, for ``dgno.load("pretrained:<preset>")``:

- ``best.pt``: the best checkpoint's weights only (no optimiser state), float32, with its step, config and preset;
- ``inverse_best.pt``: the calibration of the inversions (latent prior, model error at the encoder's and at the best
  fitting latent), computed from the run's train/val splits;
- ``config.yaml``: the resolved training config;
- ``card.json``: the model card: config, data seed, steps, wall time, machine, commit, the test and OOD errors over
  the whole splits, the error on the first ``--check`` test instances (which tests/test_pretrained.py regenerates
  and reproduces), and the default inversion's measured error and coverage (from ``--inversion``, a result of
  benchmarks/inverse.py on the same model).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]


def evaluate_split(op, path: Path, limit: int | None = None) -> dict:
    import numpy as np

    from dgno.reference.dataset import load_h5

    ds = load_h5(path, require_u=True)
    n = len(ds) if limit is None else min(limit, len(ds))
    pred = op.predict(ds.a[:n])
    out = {}
    for c, name in enumerate(op.output_names):
        true = ds.u[:n] if len(op.output_names) == 1 else ds.u[:n, ..., c]
        err = np.linalg.norm((pred[name] - true).reshape(n, -1), axis=1) / np.linalg.norm(true.reshape(n, -1), axis=1)
        out[f"{name}_rel_l2_mean"] = float(err.mean())
        out[f"{name}_rel_l2_std"] = float(err.std())
    return {"file": path.name, "n": n, **out}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True)
    p.add_argument("--preset", required=True)
    p.add_argument("--data-dir", required=True, help="the preset's data (default seed): train/val/test/OOD splits")
    p.add_argument("--inversion", default=None, help="benchmarks/inverse.py result JSON of the default inversion")
    p.add_argument("--check", type=int, default=8, help="test instances the reproduction test regenerates")
    p.add_argument("--command", default=None, help="the training command, for the card")
    p.add_argument("--out", default=str(ROOT / "src/dgno/pretrained"))
    args = p.parse_args(argv)

    import dgno
    from dgno.config.build import store_calibration

    run, data = Path(args.run), Path(args.data_dir)
    if not (run / "inverse_best.pt").is_file():
        store_calibration(run, data)
    op = dgno.load(run)
    op.calibration(latent_fit=True, data_dir=data)  # the latent fit too, so that every default works offline
    out = Path(args.out) / args.preset
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    ck = torch.load(run / "best.pt", weights_only=True)
    state = ck.get("ema", ck["model"])
    slim = {"model": {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, "step": ck["step"],
            "config": ck["config"], "version": ck.get("version"), "data_preset": ck.get("data_preset")}
    torch.save(slim, out / "best.pt")
    shutil.copy(run / "inverse_best.pt", out / "inverse_best.pt")
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["data"]["dir"] = f"data/{args.preset}"
    (out / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    summary = json.loads((run / "summary.json").read_text())
    data_attrs = json.loads(__import__("h5py").File(data / "train.h5", "r").attrs["provenance"])
    splits = sorted(p.stem for p in data.glob("test*.h5"))
    card = {
        "name": args.preset, "preset": args.preset, "dgno_version": dgno.__version__,
        "training": {"command": args.command, "config": cfg["train"], "steps": summary["steps"],
                     "best_step": ck["step"], "wall_seconds": summary["seconds"],
                     "best_val_u_rel_l2": summary["best_val_u_rel_l2"], "parameters": summary["parameters"],
                     "threads": cfg["train"].get("threads")},
        "data": {"preset": args.preset, "seed": data_attrs.get("seed"), "n_train": len(__import__("h5py").File(
            data / "train.h5", "r")["a"])},
        "machine": {"cpu": platform.processor() or platform.machine(), "python": sys.version.split()[0],
                    "torch": torch.__version__},
        "commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip(),
        "errors": {s: evaluate_split(op, data / f"{s}.h5") for s in splits},
        "check": {"split": "test", "seed": data_attrs.get("seed"),
                  **evaluate_split(op, data / "test.h5", limit=args.check)},
        "inversion_defaults": op.inversion_defaults(),
    }
    if args.inversion:
        inv = json.loads(Path(args.inversion).read_text())
        card["inversion"] = {"command": inv["command"], "settings": inv["settings"],
                             "observations": inv["observations"],
                             "summary": {k: {m: v for m, v in s.items() if not isinstance(v, dict | list)}
                                         for k, s in inv["summary"].items()}}
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    sizes = {f.name: f.stat().st_size for f in out.iterdir()}
    print(json.dumps({"out": str(out), "bytes": sizes, "errors": card["errors"]}, indent=2))


if __name__ == "__main__":
    main()
