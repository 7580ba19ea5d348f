"""A small mutation-testing tool: plant one-line bugs in a copy of the project and check that the tests catch them.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 python tools/mutants.py                      # every mutant, on its own test selection
    python tools/mutants.py --only kl_dropped --only bernoulli_target_flipped
    python tools/mutants.py --baseline                             # without tests/inverse/test_mutation.py
    python tools/mutants.py --clean                                # first check the unmutated copy passes
    python tools/mutants.py --tests tests/inverse/test_mutation.py         # one selection for every mutant
    python tools/mutants.py --list
    python tools/mutants.py --pytest-args -p no:randomly           # extra pytest arguments, passed through

For each mutant the repository's ``src``, ``tests`` and ``pyproject.toml`` (and the small ``configs``,
``examples``, ``benchmarks`` folders some tests read) are copied into a temporary directory, the one-line change
is applied there (the original text must occur exactly once in its file; the files of the checkout are never
touched), and pytest runs on the mutant's test selection with ``PYTHONPATH=<tmp>/src -x -q -p no:cacheprovider``.
A mutant is *caught* when the tests fail, *survived* when they pass; a mutant whose copy cannot be collected
(pytest exit codes 2-5) is reported as an error, which counts as neither.

The tool is not a test: it lives under tools/, outside the ``testpaths`` of pyproject.toml.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COPIED = ("src", "tests", "pyproject.toml", "configs", "examples", "benchmarks")
MUTATION_TESTS = "tests/inverse/test_mutation.py"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "*.egg-info")


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str  # relative to the repository root
    original: str  # must occur exactly once in the file
    replacement: str
    tests: tuple[str, ...]  # pytest selection (files or node ids); tests/inverse/test_mutation.py is added
    note: str = ""


MUTANTS: tuple[Mutant, ...] = (
    # ------------------------------------------------------------------ the three the default suite once missed
    Mutant("rel_l2_denominator", "src/dgno/evaluate/metrics.py",
           "return diff / true.flatten(1).norm(dim=1)", "return diff / pred.flatten(1).norm(dim=1)",
           ("tests/pdes/test_problem.py",), "relative L2 divides by the prediction's norm"),
    Mutant("rel_l2_batch_denominator", "src/dgno/evaluate/metrics.py",
           "return diff / true.flatten(1).norm(dim=1)", "return diff / true.flatten(1).norm(dim=1).mean()",
           ("tests/pdes/test_problem.py",), "relative L2 divides by the batch-mean norm"),
    Mutant("bernoulli_target_flipped", "src/dgno/models/likelihoods.py",
           "target = (a - self.a_lo) / (self.a_hi - self.a_lo)",
           "target = (self.a_hi - a) / (self.a_hi - self.a_lo)",
           ("tests/models/test_model.py",), "the decoded phases inverted"),
    Mutant("kl_dropped", "src/dgno/models/dgno.py",
           'parts["kl"] = self.kl_weight * kl', 'parts["kl"] = 0.0 * kl',
           ("tests/models/test_model.py", "tests/nn/test_nn.py"), "KL term dropped from the variational loss"),
    # ------------------------------------------------------------------ four the default suite caught
    Mutant("darcy_source_sign", "src/dgno/pdes/darcy.py",
           "(flux * points.grad_v).sum(-1) - self.source * points.v",
           "(flux * points.grad_v).sum(-1) + self.source * points.v",
           ("tests/models/test_model.py",), "flipped source sign in the Darcy weak residual"),
    Mutant("fd_arithmetic_faces", "src/dgno/reference/darcy_fd.py",
           "kx = 2 * an[1:, :] * an[:-1, :] / (an[1:, :] + an[:-1, :]) / h2",
           "kx = (an[1:, :] + an[:-1, :]) / 2 / h2",
           ("tests/reference/test_solvers.py",), "arithmetic instead of harmonic face means (x faces)"),
    Mutant("wendland_derivative", "src/dgno/weak/testfunctions.py",
           "return -(l + 3) * (l + 4) * ((l + 1) * r + 1.0) * s ** (l + 1) / 3.0",
           "return -(l + 3) * (l + 4) * ((l + 1) * r + 1.0) * s ** l / 3.0",
           ("tests/weak/test_weak.py",), "C4 Wendland derivative inconsistent with phi"),
    Mutant("posterior_prior_dropped", "src/dgno/inverse/posterior.py",
           'out = {"prior": self.prior.log_prob(flat), "obs": -0.5 * misfit.sum((-2, -1))}',
           'out = {"prior": 0.0 * self.prior.log_prob(flat), "obs": -0.5 * misfit.sum((-2, -1))}',
           ("tests/inverse/test_inverse.py::test_posterior_terms_are_the_ones_written_down",),
           "the prior dropped from the latent posterior"),
    # ------------------------------------------------------------------ new: jets and the product rule
    Mutant("tangent_through_bias", "src/dgno/nn/multionet.py",
           "dz = F.linear(dt, layer.weight)", "dz = layer(dt)",
           ("tests/nn/test_nn.py",), "trunk tangents pushed through the bias"),
    Mutant("hessian_chain_term", "src/dgno/nn/multionet.py",
           "ht = s[2][..., None, None, :] * dzdz + s[1][..., None, None, :] * hz",
           "ht = s[2][..., None, None, :] * dzdz",
           ("tests/nn/test_nn.py",), "trunk Hessian loses sigma' * (W hess t)"),
    Mutant("product_rule_grad", "src/dgno/pdes/base.py",
           "grad = m.grad * net.value[..., None] + m.value[..., None] * net.grad",
           "grad = m.value[..., None] * net.grad",
           ("tests/models/test_model.py", "tests/pdes/test_problem.py"), "grad(M N) without grad M N"),
    Mutant("product_rule_hess_cross", "src/dgno/pdes/base.py",
           "+ outer.transpose(-1, -2)", "+ outer",
           ("tests/pdes/test_problem.py", "tests/models/test_model.py"), "hess(M N) cross term not symmetrised"),
    Mutant("lift_hess_dropped", "src/dgno/pdes/base.py",
           "return Jet(a.value + b.value, plus(a.grad, b.grad), plus(a.hess, b.hess))",
           "return Jet(a.value + b.value, plus(a.grad, b.grad), b.hess)",
           ("tests/pdes/test_problem.py",), "the lift's Hessian is not added"),
    # ------------------------------------------------------------------ new: multipliers
    Mutant("sine_multiplier_cross", "src/dgno/pdes/darcy.py",
           "dxy = math.pi**2 * cx * cy", "dxy = -(math.pi**2) * cx * cy",
           ("tests/models/test_model.py", "tests/pdes/test_problem.py"), "wrong sign of d2M/dxdy"),
    Mutant("cosine_multiplier_period", "src/dgno/pdes/burgers.py",
           "k = math.pi / 2", "k = math.pi",
           ("tests/pdes/test_problem.py",), "Burgers multiplier cos(pi x) does not vanish at x = +-1"),
    # ------------------------------------------------------------------ new: quadrature, particles, test functions
    Mutant("gauss_rule_jacobian", "src/dgno/weak/quadrature.py",
           "weights = np.repeat(2.0 * r * w / n_angular, n_angular)",
           "weights = np.repeat(w / n_angular, n_angular)",
           ("tests/weak/test_weak.py",), "polar rule without the r dr Jacobian (weights still sum to 1)"),
    Mutant("gauss_rule_1d_weights", "src/dgno/weak/quadrature.py",
           "weights = np.concatenate([w, w]) / 2.0", "weights = np.concatenate([w, w])",
           ("tests/weak/test_weak.py",), "1-D rule: weights of both halves not halved (sum 2, not an average)"),
    Mutant("particle_radii_nonuniform", "src/dgno/weak/particles.py",
           "radii = self.r_min + (self.r_max - self.r_min) * unit",
           "radii = self.r_min + (self.r_max - self.r_min) * unit * unit",
           ("tests/weak/test_weak.py",), "radii not uniform on [r_min, r_max]"),
    Mutant("particle_lhs_no_jitter", "src/dgno/weak/particles.py",
           "u = (strata + u) / n", "u = (strata + 0.5) / n",
           ("tests/weak/test_weak.py",), "Latin hypercube centres on the strata midpoints, not random in them"),
    Mutant("weak_grad_radius", "src/dgno/weak/assembly.py",
           "grad_v = grad_phi[None] / radius[:, None, None]", "grad_v = grad_phi[None] * radius[:, None, None]",
           ("tests/weak/test_weak.py", "tests/models/test_model.py"),
           "physical test-function gradient scaled by R, not 1/R"),
    # ------------------------------------------------------------------ new: residuals and the loss
    Mutant("darcy_weak_mean", "src/dgno/pdes/darcy.py",
           '(weak**2).sum(-1)}', '(weak**2).mean(-1)}',
           ("tests/models/test_model.py",), "Darcy weak term averages over particles instead of summing"),
    Mutant("mixed_constitutive_squared", "src/dgno/pdes/darcy.py",
           '"constitutive": points.average(mismatch).sum(-1)',
           '"constitutive": (points.average(mismatch) ** 2).sum(-1)',
           ("tests/models/test_model.py",), "constitutive term squared once more"),
    Mutant("mixed_constitutive_no_a", "src/dgno/pdes/darcy.py",
           'mismatch = ((s - a[..., None] * fields["u"].grad) ** 2).sum(-1)',
           'mismatch = ((s - fields["u"].grad) ** 2).sum(-1)',
           ("tests/models/test_model.py",), "constitutive mismatch without the coefficient"),
    Mutant("burgers_viscous_sign", "src/dgno/pdes/burgers.py",
           "weak = points.average((u_t + u.value * u_x) * points.v + self.nu * u_x * dv_dx)",
           "weak = points.average((u_t + u.value * u_x) * points.v - self.nu * u_x * dv_dx)",
           ("tests/pdes/test_problem.py",), "viscous term integrated by parts with the wrong sign"),
    Mutant("precision_half", "src/dgno/models/dgno.py",
           "return {name: self.precisions[name] / 2 * r for name, r in residuals.items()}",
           "return {name: self.precisions[name] * r for name, r in residuals.items()}",
           ("tests/models/test_model.py", "tests/pdes/test_problem.py"),
           "virtual observables lambda R instead of lambda/2 R"),
    # ------------------------------------------------------------------ new: observation likelihood, calibration
    Mutant("obs_likelihood_half", "src/dgno/inverse/posterior.py",
           '"obs": -0.5 * misfit.sum((-2, -1))', '"obs": -misfit.sum((-2, -1))',
           ("tests/inverse/test_inverse.py::test_posterior_terms_are_the_ones_written_down",),
           "Gaussian observation log-likelihood without the 1/2"),
    Mutant("obs_variance_model_error", "src/dgno/inverse/run.py",
           "cal.model_error_at(o.x)[:, components] ** 2 if", "cal.model_error_at(o.x)[:, components] if",
           ("tests/inverse/test_inverse.py::test_posterior_terms_are_the_ones_written_down",),
           "noise variance sigma^2 + sigma_model instead of sigma^2 + sigma_model^2"),
    Mutant("calibration_rms", "src/dgno/inverse/calibration.py",
           "return np.sqrt((err_u**2).mean(0)), np.sqrt((err_a**2).mean(0))",
           "return np.abs(err_u).mean(0), np.sqrt((err_a**2).mean(0))",
           ("tests/inverse/test_inverse.py::test_invert_writes_summary_posterior_and_plot",),
           "model error as mean |error| instead of RMS"),
    Mutant("calibration_a_mode", "src/dgno/inverse/calibration.py",
           'err_a = pred["a_mean"].double().numpy() - a', 'err_a = pred["a_mode"].double().numpy() - a',
           ("tests/inverse/test_inverse.py::test_invert_writes_summary_posterior_and_plot",),
           "decoded-input error from the mode instead of the posterior mean"),
)


def copy_project(dest: str) -> None:
    for name in COPIED:
        src = os.path.join(ROOT, name)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(dest, name), ignore=IGNORED)
        elif os.path.isfile(src):
            shutil.copy2(src, os.path.join(dest, name))


def apply(mutant: Mutant, dest: str) -> None:
    path = os.path.join(dest, mutant.file)
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    count = text.count(mutant.original)
    if count != 1:
        raise SystemExit(f"{mutant.name}: the original text occurs {count} times in {mutant.file}, need exactly 1:\n"
                         f"  {mutant.original!r}")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text.replace(mutant.original, mutant.replacement))


def run_pytest(dest: str, selection: list[str], extra: list[str], timeout: float) -> tuple[int, str, float]:
    env = dict(os.environ, PYTHONPATH=os.path.join(dest, "src"), PYTHONDONTWRITEBYTECODE="1")
    env.setdefault("OMP_NUM_THREADS", "1")
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *extra, *selection]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=dest, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return -1, out + "\n[timed out]", time.perf_counter() - t0
    return proc.returncode, proc.stdout + proc.stderr, time.perf_counter() - t0


def check_import_path(dest: str) -> None:
    """The copy's src must shadow the checkout's (editable) install."""
    env = dict(os.environ, PYTHONPATH=os.path.join(dest, "src"))
    out = subprocess.run([sys.executable, "-c", "import dgno; print(dgno.__file__)"], env=env, cwd=dest,
                         capture_output=True, text=True, check=True).stdout.strip()
    if not os.path.realpath(out).startswith(os.path.realpath(dest)):
        raise SystemExit(f"the mutated copy is not the one imported: dgno comes from {out}")


def first_failure(output: str) -> str:
    m = re.search(r"^(?:FAILED|ERROR) (\S+)", output, re.MULTILINE)
    return m.group(1) if m else ""


def selection_of(mutant: Mutant, baseline: bool, override: list[str] | None = None) -> list[str]:
    if override:
        return list(override)
    return list(mutant.tests) + ([] if baseline else [MUTATION_TESTS])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", action="append", default=[], metavar="NAME", help="run only these mutants (repeatable)")
    p.add_argument("--baseline", action="store_true", help=f"leave {MUTATION_TESTS} out of every selection")
    p.add_argument("--tests", action="append", default=[], metavar="SELECTION",
                   help="run this pytest selection for every mutant instead of its own (repeatable)")
    p.add_argument("--clean", action="store_true", help="first run the unmutated copy on every selection used")
    p.add_argument("--list", action="store_true", help="list the mutants and exit")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per pytest run")
    p.add_argument("-v", "--verbose", action="store_true", help="print the tail of pytest's output")
    p.add_argument("--pytest-args", nargs=argparse.REMAINDER, default=[], help="extra pytest arguments (last)")
    args = p.parse_args(argv)

    names = {m.name for m in MUTANTS}
    assert len(names) == len(MUTANTS), "duplicate mutant names"
    unknown = sorted(set(args.only) - names)
    if unknown:
        p.error(f"unknown mutant(s) {unknown}; see --list")
    chosen = [m for m in MUTANTS if not args.only or m.name in args.only]
    if args.list:
        for m in chosen:
            print(f"{m.name:28s} {m.file:36s} {m.note}")
        return 0

    t_start = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="dgno-mutants-") as tmp:
        pristine = os.path.join(tmp, "pristine")
        os.mkdir(pristine)
        copy_project(pristine)
        check_import_path(pristine)
        if args.clean:
            union = list(dict.fromkeys(t for m in chosen for t in selection_of(m, args.baseline, args.tests)))
            rc, out, secs = run_pytest(pristine, union, args.pytest_args, args.timeout)
            print(f"clean copy: exit {rc} in {secs:.0f} s on {len(union)} selection(s)", flush=True)
            if rc != 0:
                print(out[-3000:])
                return 1
        for m in chosen:
            dest = os.path.join(tmp, m.name)
            shutil.copytree(pristine, dest)
            apply(m, dest)
            rc, out, secs = run_pytest(dest, selection_of(m, args.baseline, args.tests), args.pytest_args, args.timeout)
            status = {0: "SURVIVED", 1: "caught"}.get(rc, "caught (timeout)" if rc == -1 else f"ERROR (exit {rc})")
            by = first_failure(out) if rc == 1 else ""
            rows.append((m, status, by, secs))
            print(f"{m.name:28s} {status:10s} {secs:5.0f} s  {by}", flush=True)
            if args.verbose or rc not in (0, 1, -1):
                print("\n".join(out.strip().splitlines()[-15:]))
            shutil.rmtree(dest, ignore_errors=True)
    survived = [m.name for m, s, _, _ in rows if s == "SURVIVED"]
    errors = [m.name for m, s, _, _ in rows if s.startswith("ERROR")]
    caught = len(rows) - len(survived) - len(errors)
    print(f"\n{caught}/{len(rows)} caught, {len(survived)} survived {survived or ''}"
          f"{f', {len(errors)} errors {errors}' if errors else ''} in {time.perf_counter() - t_start:.0f} s")
    return 1 if survived or errors else 0


if __name__ == "__main__":
    sys.exit(main())
