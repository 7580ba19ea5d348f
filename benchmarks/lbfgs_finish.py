"""A second-order finish: L-BFGS on the physics-only loss from a trained run's last checkpoint, for the minutes left
of a training budget (issue 12: is the darcy-pwc plateau the first-order optimiser's?).

    python benchmarks/lbfgs_finish.py --run runs/darcy_pwc_10k_90min --minutes 11.5 \
        --out runs/darcy_pwc_10k_90min_lbfgs

L-BFGS needs a fixed objective, and the training loss is a fresh sample every step (inputs and particles). So the
finish runs in rounds: each round fixes one sample (--batch training inputs, one draw of the run's particles) and
takes --iters L-BFGS iterations (strong-Wolfe line search) on it; the validation error is measured after every
round, and the best model on validation (never on a test split) is saved as OUT/best.pt with the run's config, so
that `dgno evaluate` and `dgno invert` read OUT like any run. OUT/metrics.jsonl has one row per round.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from dgno.config.build import weak_layout
from dgno.config.runs import load_run
from dgno.errors import DgnoError
from dgno.evaluate.metrics import evaluate
from dgno.training.checkpoint import save_checkpoint
from dgno.training.data import load_training_data


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="a run folder of dgno train")
    p.add_argument("--checkpoint", default="last", choices=["best", "last"])
    p.add_argument("--minutes", type=float, required=True, help="wall-clock budget of the finish")
    p.add_argument("--batch", type=int, default=250, help="training inputs in each round's fixed sample")
    p.add_argument("--iters", type=int, default=20, help="L-BFGS iterations per round")
    p.add_argument("--history", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if args.minutes <= 0 or args.batch < 1 or args.iters < 1:
        raise SystemExit("--minutes, --batch and --iters must be positive")
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    try:
        cfg, model, ck = load_run(args.run, checkpoint=args.checkpoint)
    except DgnoError as exc:
        raise SystemExit(str(exc)) from None
    data = load_training_data(cfg.data.dir, preset=cfg.data.preset, n_train=cfg.data.n_train)
    layout = weak_layout(cfg, model.problem)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(args.run) / "config.yaml", out / "config.yaml")
    model.train()
    for q in model.parameters():
        q.requires_grad_(True)
    params = [q for q in model.parameters() if q.requires_grad]
    gen = torch.Generator().manual_seed(args.seed)
    n = data.a.shape[0]

    def validate() -> float:
        model.eval()
        err = evaluate(model, data.val_a, data.val_u, data.x_u)["rel_l2_mean"]
        model.train()
        return err

    rows, start = [], time.perf_counter()
    best = validate()
    rows.append({"round": 0, "seconds": 0.0, "val_u_rel_l2_mean": best})
    print(f"start ({args.checkpoint}.pt, step {ck['step']}): val u {best:.4f}", flush=True)

    def keep(finish: str) -> None:  # best.pt in the layout load_run reads
        save_checkpoint(out / "best.pt", {"model": model.state_dict(), "step": ck["step"], "config": ck["config"],
                                          "data_preset": ck.get("data_preset"), "finish": finish})

    keep("start")
    budget, k = 60 * args.minutes, 0
    while time.perf_counter() - start < budget:
        k += 1
        idx = torch.randperm(n, generator=gen)[: args.batch]
        a = data.a[idx.sort().values].to(torch.float32)
        points = layout.sample(gen, dtype=torch.float32)
        opt = torch.optim.LBFGS(params, lr=1.0, max_iter=args.iters, history_size=args.history,
                                line_search_fn="strong_wolfe")

        def closure(opt=opt, a=a, points=points) -> torch.Tensor:  # this round's sample
            opt.zero_grad(set_to_none=True)
            loss = model.loss(a, points).total
            loss.backward()
            return loss

        before = opt.step(closure).item()  # the loss on this round's sample where the round starts
        with torch.no_grad():
            after = float(model.loss(a, points).total)
        val = validate()
        row = {"round": k, "seconds": time.perf_counter() - start, "val_u_rel_l2_mean": val, "loss_before": before,
               "loss_after": after}
        rows.append(row)
        print(f"round {k}: {row['seconds']:.0f} s, loss {before:.4g} -> {after:.4g}, val u {val:.4f}", flush=True)
        if val < best:
            best = val
            keep(f"lbfgs round {k}")
    (out / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = {"run": args.run, "checkpoint": args.checkpoint, "start_val": rows[0]["val_u_rel_l2_mean"],
               "best_val": best, "rounds": k, "seconds": time.perf_counter() - start, "batch": args.batch,
               "iters": args.iters}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary), flush=True)
    return summary


if __name__ == "__main__":
    main()
