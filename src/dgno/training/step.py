"""One optimiser step (loss, backward, optimiser, scheduler), run eagerly or replayed from a CUDA graph.

On a GPU the DGNO step at the reference's sizes is bound by kernel launches, not arithmetic: a few thousand
small kernels (jets of three MultiONets, their backward pass, Adam) of a few microseconds each. Capturing the
whole step once in a CUDA graph and replaying it removes the launch cost. The capture follows PyTorch's
"whole network capture": static input buffers, warm-up iterations on a side stream, then
``loss.backward(); optimizer.step()`` recorded once. Three things keep the replayed steps equal to eager ones:

- the warm-up iterations change the parameters and the optimiser's moments, so both are saved before and
  restored after them (the first replay is the run's first step);
- the learning rate is read from a device tensor that is refilled from the scheduler's value before each
  replay (a Python float would be baked into the graph);
- every random number of a step (batch indices, particles, the encoder's noise) is drawn outside the graph from
  the loop's own generators and copied into the static buffers.

A graph needs static shapes and no host synchronisation inside the step, so it is used for physics-only DGNO
training in one process; semi-supervised steps (whose labeled term depends on the batch), baselines and
distributed runs take the eager path. A capture that fails falls back to eager steps with a one-line message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace

import torch
from torch import Tensor

from dgno.weak.assembly import WeakPoints


class TrainStep:
    """``step(a, points, noise=, u=, labeled=, x_u=)`` -> the loss output of that step (eager or graph replay)."""

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        *,
        loss_fn: Callable | None = None,
        cuda_graph: bool = False,
        warmup: int = 3,
        log: Callable[[str], None] = print,
    ) -> None:
        self.model, self.opt, self.sched = model, optimizer, scheduler
        self.loss_fn = loss_fn or model.loss
        self.want_graph = cuda_graph
        self.warmup = warmup
        self.log = log
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static: dict | None = None
        self.static_out = None
        self.lr: list[Tensor] = []

    @property
    def graphed(self) -> bool:
        return self.graph is not None

    def __call__(self, a: Tensor, points: WeakPoints | None, *, noise: Tensor | None = None,
                 u: Tensor | None = None, labeled: Tensor | None = None, x_u: Tensor | None = None):
        inputs = {"a": a, "points": points, "noise": noise}
        if self.want_graph and self.graph is None:
            reason = _why_not_graphable(a, points, u)
            if reason:
                self.log(f"cuda_graph: {reason}; eager steps")
                self.want_graph = False
            else:
                self._capture(inputs)
        if self.graph is not None:
            _copy_into(self.static, inputs)
            for lr, group in zip(self.lr, self.opt.param_groups, strict=True):
                lr.fill_(group["lr"])
            self.graph.replay()
            self.sched.step()
            return self.static_out
        extra = {} if noise is None else {"noise": noise}  # baselines take no noise
        out = self.loss_fn(a, points, u=u, labeled=labeled, x_u=x_u, **extra)
        self.opt.zero_grad(set_to_none=True)
        out.total.backward()
        self.opt.step()
        self.sched.step()
        return out

    # ------------------------------------------------------------------------------------------ capture
    def _capture(self, inputs: dict) -> None:
        params = [p for g in self.opt.param_groups for p in g["params"]]
        saved = _snapshot(self.opt, params)
        groups = [dict(capturable=g.get("capturable", False), lr=g["lr"]) for g in self.opt.param_groups]
        self.static = _clone(inputs)
        device = inputs["a"].device
        dtype = params[0].dtype if params else torch.float32
        self.lr = [torch.tensor(float(g["lr"]), device=device, dtype=dtype) for g in self.opt.param_groups]
        try:
            for group, lr in zip(self.opt.param_groups, self.lr, strict=True):
                group["capturable"], group["lr"] = True, lr
            for p in params:  # a capturable optimiser keeps its step counts on the device
                st = self.opt.state.get(p, {})
                if torch.is_tensor(st.get("step")) and st["step"].device != p.device:
                    st["step"] = st["step"].to(p.device, torch.float32)
            side = torch.cuda.Stream(device)
            side.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side):
                for _ in range(self.warmup):
                    self.opt.zero_grad(set_to_none=True)
                    self._eager_body()
            torch.cuda.current_stream(device).wait_stream(side)
            _restore(self.opt, params, saved)
            self.opt.zero_grad(set_to_none=True)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self.static_out = self._eager_body()
            self.graph = graph
        except Exception as exc:
            torch.cuda.synchronize(device)
            _restore(self.opt, params, saved)
            self.opt.zero_grad(set_to_none=True)
            self.graph, self.static, self.static_out, self.lr = None, None, None, []
            self.want_graph = False
            reason = str(exc).splitlines()[0][:200] if str(exc) else ""
            self.log(f"cuda_graph: capture failed ({type(exc).__name__}: {reason}); eager steps")
        finally:
            # the scheduler keeps working on Python floats; the graph reads self.lr, refilled before each replay
            for group, old in zip(self.opt.param_groups, groups, strict=True):
                group["capturable"], group["lr"] = old["capturable"], old["lr"]

    def _eager_body(self):
        s = self.static
        extra = {} if s["noise"] is None else {"noise": s["noise"]}
        out = self.loss_fn(s["a"], s["points"], **extra)
        out.total.backward()
        self.opt.step()
        return out


def _why_not_graphable(a: Tensor, points: WeakPoints | None, u: Tensor | None) -> str:
    if a.device.type != "cuda":
        return "only on CUDA devices"
    if points is None:
        return "only for DGNO's weak-form steps"
    if u is not None:
        return "semi-supervised steps depend on the batch's labels"
    return ""


def _clone(inputs: dict) -> dict:
    out = {}
    for key, value in inputs.items():
        if isinstance(value, WeakPoints):
            out[key] = replace(value, **{f.name: _clone_value(getattr(value, f.name)) for f in fields(value)})
        else:
            out[key] = _clone_value(value)
    return out


def _clone_value(value):
    if torch.is_tensor(value):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _clone_value(v) for k, v in value.items()}
    return value


def _copy_into(static: dict, inputs: dict) -> None:
    for key, value in inputs.items():
        _copy_value(static[key], value, key)


def _copy_value(dst, src, where: str) -> None:
    if isinstance(src, WeakPoints):
        for f in fields(src):
            _copy_value(getattr(dst, f.name), getattr(src, f.name), f"{where}.{f.name}")
    elif isinstance(src, dict):
        if set(src) != set(dst):
            raise ValueError(f"cuda_graph: {where} keys changed from {sorted(dst)} to {sorted(src)}")
        for k in src:
            _copy_value(dst[k], src[k], f"{where}.{k}")
    elif torch.is_tensor(src):
        if src.shape != dst.shape:
            raise ValueError(f"cuda_graph: {where} changed shape from {tuple(dst.shape)} to {tuple(src.shape)}")
        dst.copy_(src, non_blocking=True)
    elif (src is None) != (dst is None):
        raise ValueError(f"cuda_graph: {where} changed from {type(dst).__name__} to {type(src).__name__}")


def _snapshot(opt: torch.optim.Optimizer, params: list[Tensor]) -> dict:
    return {
        "params": [p.detach().clone() for p in params],
        "state": {id(p): {k: (v.detach().clone() if torch.is_tensor(v) else v) for k, v in opt.state[p].items()}
                  for p in params if p in opt.state},
    }


@torch.no_grad()
def _restore(opt: torch.optim.Optimizer, params: list[Tensor], saved: dict) -> None:
    """Parameters and optimiser state back to ``saved``, in place (the graph holds their addresses); state that the
    warm-up created is zeroed, which is how the optimiser initialises it."""
    for p, value in zip(params, saved["params"], strict=True):
        p.copy_(value)
    for p in params:
        state = opt.state.get(p)
        if not state:
            continue
        old = saved["state"].get(id(p), {})
        for k, v in state.items():
            if torch.is_tensor(v):
                if k in old:
                    v.copy_(old[k])
                else:
                    v.zero_()
