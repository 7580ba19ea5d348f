"""A training split of inputs only, for physics-only training at scale: the same inputs that
``dgno generate`` would draw (the same per-sample seeds), without their reference solves.

Physics-only DGNO never reads the solutions of its training inputs, so a 10,000-input training set needs no
10,000 solves; validation and test splits keep their solutions (copy them from a generated folder).

    python benchmarks/inputs_only.py darcy-pwc --n 10000 --out data/darcy-pwc-10k/train.h5 [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np

from dgno.config import get_preset
from dgno.reference.dataset import Dataset, save_h5
from dgno.reference.generate import RNG_RECIPE, sample_rng, split_key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("preset")
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    preset = get_preset(args.preset)
    x_a, x_u = preset.x_a(), preset.x_u()
    sampler = preset.sampler("train")
    a = np.stack([sampler.sample(sample_rng(args.seed, "train", i))(x_a) for i in range(args.n)])
    attrs = {**preset.describe(), "field": sampler.describe(), "split": "train", "seed": args.seed,
             "rng": RNG_RECIPE, "split_key": split_key("train"), "index_start": 0, "index_stop": args.n,
             "n_samples": args.n, "inputs_only": True, "a_positive": preset.a_positive, "layout": preset.layout}
    print(save_h5(Dataset(a=a, u=None, x_a=x_a, x_u=x_u, attrs=attrs), args.out))


if __name__ == "__main__":
    main()
