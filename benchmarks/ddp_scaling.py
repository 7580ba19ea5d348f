"""Data-parallel scaling on the CPU cores of one machine: the same training steps in one process and in torchrun
processes (gloo), at the reference's two-phase configuration (configs/darcy_pwc.yaml, global batch 25 -> 24 so
that it splits).

Runs ``dgno train`` for ``--steps`` steps in each setting, back to back, and reads seconds per step from the
run's summary (training steps only; the one validation at the end is not counted):

- 1 process x 1 thread, 1 process x N threads, N processes x 1 thread (torchrun), N = --procs.

    python benchmarks/ddp_scaling.py [--steps 60] [--procs 2] [--data data/darcy-pwc] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from dgno.atomic import write_text

ROOT = Path(__file__).resolve().parents[1]


def run(label: str, procs: int, threads: int, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        overrides = [f"data.dir={args.data}", f"train.steps={args.steps}", "train.batch_size=24",
                     "train.val_every=1000000000", "train.checkpoint_every=1000000000", f"train.threads={threads}",
                     "train.device=cpu", "train.max_minutes=null"]
        train = ["-m", "dgno", "train", str(ROOT / "configs/darcy_pwc.yaml"), *overrides, "--out", str(out),
                 "--quiet"]
        if procs > 1:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(procs),
                   *train]
        else:
            cmd = [sys.executable, *train]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        summary = json.loads((out / "summary.json").read_text())
    s = summary["seconds_per_step"]
    return {"setting": label, "processes": procs, "threads_per_process": threads, "seconds_per_step": s,
            "samples_per_second": 24 / s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--data", default="data/darcy-pwc")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results"))
    args = parser.parse_args()
    n = args.procs
    rows = [run("1 process x 1 thread", 1, 1, args), run(f"1 process x {n} threads", 1, n, args),
            run(f"{n} processes x 1 thread (torchrun, gloo)", n, 1, args)]
    base = rows[0]["seconds_per_step"]
    for r in rows:
        r["speedup_vs_1x1"] = base / r["seconds_per_step"]
    command = f"python benchmarks/ddp_scaling.py --steps {args.steps} --procs {n} --data {args.data}"
    result = {"command": command, "cpu_count": os.cpu_count(), "rows": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "ddp_scaling.json", json.dumps(result, indent=2) + "\n")
    lines = ["| setting | s / step | samples / s | speed-up vs 1 x 1 |", "|---|---|---|---|"]
    lines += [f"| {r['setting']} | {r['seconds_per_step']:.3f} | {r['samples_per_second']:.0f} | "
              f"{r['speedup_vs_1x1']:.2f} |" for r in rows]
    write_text(out / "ddp_scaling.md", "\n".join(lines) + f"\n\n`{command}`\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
