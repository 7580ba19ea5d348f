"""The README's figure: an inversion with the pretrained darcy-pwc model (truth, posterior mean, uncertainty,
observations).

    python tools/readme_figure.py     # writes docs/_static/inversion.png
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import dgno
from dgno.config import get_preset
from dgno.inversion import Truth, instance_observations, inverter
from dgno.reference.generate import generate_split

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ds = generate_split(get_preset("darcy-pwc"), "test", [11], seed=0)
    op = dgno.load("pretrained:darcy-pwc")
    obs = instance_observations(ds, 0, problem=op.problem, n_obs=100, snr=25.0, seed=0, source="test[11]")
    inv = inverter(op)
    (res,) = inv.invert([obs], [Truth(ds.a[0], ds.u[0])], inv.settings())
    fig, ax = plt.subplots(1, 4, figsize=(13, 3.1))
    panels = [(ds.a[0], "true conductivity a"), (res.mean["a"], "posterior mean of a"),
              (res.std["a"], "posterior std of a"), (ds.u[0], "u and the 100 observations")]
    for axis, (field, title) in zip(ax, panels, strict=True):
        im = axis.imshow(field.T, origin="lower", extent=(0, 1, 0, 1), cmap="viridis")
        axis.set_title(title, fontsize=10)
        axis.set_xticks([])
        axis.set_yticks([])
        fig.colorbar(im, ax=axis, shrink=0.85)
    ax[3].plot(*obs.x.T, "w.", ms=3)
    s = res.summary
    fig.suptitle(f"dgno.invert with the pretrained darcy-pwc model: a rel. L2 {s['a_rel_l2']:.3f}, u coverage at 90 % "
                 f"{s['coverage90_u']:.2f}, {s['seconds']:.0f} s on one CPU thread", fontsize=10)
    fig.tight_layout()
    out = ROOT / "docs/_static/inversion.png"
    fig.savefig(out, dpi=110)
    print(out, {k: round(float(s[k]), 4) for k in ("a_rel_l2", "u_rel_l2", "coverage90_u", "seconds")})


if __name__ == "__main__":
    main()
