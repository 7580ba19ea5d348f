"""How well can a trained model's input decoder represent the true a at all?

For each test instance, the latent that maximises p(a_true | beta) p(beta) (Adam from the encoder's
latent, in the prior's coordinates) is decoded; its error bounds what any inversion through this model
can reach for a. Also prints the encoder's own decoded-a error.

    python benchmarks/latent_floor.py --run runs/darcy_pwc_90min --data data/darcy-pwc/test.h5 --n 20
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from dgno.atomic import write_text
from dgno.config.runs import load_run
from dgno.evaluate.metrics import relative_l2
from dgno.inverse.calibration import calibrate
from dgno.reference.dataset import load_h5

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cfg, model, _ = load_run(args.run)
    for q in model.parameters():
        q.requires_grad_(False)
    prior = calibrate(model, run=args.run, checkpoint="best", data_dir=cfg.data.dir).prior.to(None, torch.float32)
    a = torch.tensor(load_h5(args.data).a[: args.n]).float()
    lik = model.likelihood
    with torch.no_grad():
        beta, _ = model.encode(a, sample=False)
        out = model.decode_a(beta)
        enc = {"mean": relative_l2(lik.mean(out), a), "mode": relative_l2(lik.mode(out), a)}
    theta = prior.inverse(beta).clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=0.02)
    for _ in range(args.steps):
        opt.zero_grad()
        loss = lik.nll(model.decode_a(prior.transform(theta)), a).sum() - prior.log_prob(theta).sum()
        loss.backward()
        opt.step()
    with torch.no_grad():
        out = model.decode_a(prior.transform(theta))
        best = {"mean": relative_l2(lik.mean(out), a), "mode": relative_l2(lik.mode(out), a)}
    result = {"run": args.run, "data": args.data, "n": int(a.shape[0]), "steps": args.steps,
              "encoder_a_rel_l2": {k: float(v.mean()) for k, v in enc.items()},
              "best_latent_a_rel_l2": {k: float(v.mean()) for k, v in best.items()}}
    print(json.dumps(result, indent=2))
    if args.json:
        write_text(args.json, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
