"""Generation throughput: samples per second for each Darcy preset at its default settings.

Times `generate` on a fixed number of samples per preset (all splits in the preset's proportions
are not needed for a rate: the cost is one solve per sample), with the given number of worker
processes, and, with --full, the whole default darcy-pwc set (1,000 train + 100 val + 200 test +
2 x 200 OOD). Writes benchmarks/results/generate_darcy.json and .md.

    python benchmarks/generate_darcy.py [--samples 64] [--workers 2] [--full]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

from dgno.atomic import write_text
from dgno.config import DATA_PRESETS, get_preset
from dgno.reference.generate import SplitCounts, generate

ROOT = Path(__file__).resolve().parents[1]


def timed(name: str, counts: SplitCounts, workers: int) -> dict:
    """Wall time of generating every split of preset ``name`` with ``counts``."""
    preset = get_preset(name)
    total = sum(counts.of(s) for s in preset.splits)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        generate(preset, tmp, counts=counts, seed=0, workers=workers)
        elapsed = time.perf_counter() - start
    return {"preset": name, "samples": total, "workers": workers, "seconds": elapsed, "samples_per_s": total / elapsed,
            "n_fine": preset.n_fine}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--full", action="store_true", help="also time the whole default darcy-pwc set")
    args = parser.parse_args()
    rows = [timed(name, SplitCounts(train=args.samples, val=1, test=1, ood=1), args.workers) for name in DATA_PRESETS]
    if args.full:
        rows.append({**timed("darcy-pwc", SplitCounts(), args.workers), "default_set": True})
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    command = "python benchmarks/generate_darcy.py" + (f" --samples {args.samples} --workers {args.workers}")
    command += " --full" if args.full else ""
    meta = {"command": command, "commit": git.stdout.strip(), "cpus": os.cpu_count(), "machine": platform.machine()}
    out = ROOT / "benchmarks/results"
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "generate_darcy.json", json.dumps({**meta, "rows": rows}, indent=2) + "\n")
    lines = ["| preset | fine grid | samples | workers | seconds | samples/s |", "|---|---|---|---|---|---|"]
    for r in rows:
        label = r["preset"] + (" (default set)" if r.get("default_set") else "")
        grid = f"{r['n_fine']}^2"
        lines.append(f"| {label} | {grid} | {r['samples']} | {r['workers']} | {r['seconds']:.1f} "
                     f"| {r['samples_per_s']:.2f} |")
    lines += ["", f"Reproduce: `{command}` (commit {meta['commit']}, {meta['cpus']} CPUs)."]
    write_text(out / "generate_darcy.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
