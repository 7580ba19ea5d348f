"""Stokes-around-a-cylinder ground truth: the gmsh mesh, the Taylor-Hood solver and the `stokes-cylinder` preset.

Problem: -mu Lap u + grad p = 0, div u = 0, mu = 0.01, on [0, 2] x [0, 1] minus the disk of radius 0.1 at
(0.5, 0.6); no slip on walls and cylinder, u = (a(y), 0) at x = 0, mu du/dn - p n = 0 at x = 2.
The solver is checked against a manufactured solution (observed orders 3, 2, 2 for the velocity in L2 and H1 and
the pressure in L2), by self-convergence on the cylinder meshes, the stored truth against a mesh refined once
more (1e-3), and by mass conservation; then the preset, generation with its extras, merging and the reference
files' converter. Measured numbers: docs/stokes.md.
"""

from __future__ import annotations

import functools

import h5py
import numpy as np
import pytest
import scipy.io

from dgno.config import get_preset
from dgno.reference import Shard, SplitCounts, generate, load_h5, merge
from dgno.reference.matlab import load_reference_mat
from dgno.reference.presets import DataPreset, StokesPreset
from dgno.reference.stokes import (
    CENTRE,
    MU,
    RADIUS,
    CylinderStokes,
    InflowProfile,
    InflowProfileField,
    MeshSpec,
    TaylorHood,
    cylinder_mesh,
    cylinder_solver,
    inflow_points,
    triangulate_nodes,
)

PI = np.pi
# training-range, corner and out-of-distribution inflows
PROFILES = [InflowProfile(1.0, 1.0), InflowProfile(2.5, 3.5), InflowProfile(4.0, 4.0), InflowProfile(6.0, 4.0),
            InflowProfile(6.0, 6.0)]


def rel_l2(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Relative L2 error per channel of (n, C) arrays: shape (C,)."""
    return np.linalg.norm(u - v, axis=0) / np.linalg.norm(v, axis=0)


def orders(errors: list[np.ndarray]) -> np.ndarray:
    """Observed orders log2(e_k / e_{k+1}) for meshes halved each time: (levels - 1, C)."""
    e = np.array(errors)
    return np.log2(e[:-1] / e[1:])


# ---------------------------------------------------------------------------------------- manufactured
#   u = (pi sin(pi x) cos(pi y), -pi cos(pi x) sin(pi y)) = curl of sin(pi x) sin(pi y): divergence-free and
#   nonzero on the boundary; p = cos(pi x) sin(2 pi y) + x; f = -mu Lap u + grad p = 2 pi^2 mu u + grad p.


def mms_u(x: np.ndarray) -> np.ndarray:
    return np.stack([PI * np.sin(PI * x[0]) * np.cos(PI * x[1]), -PI * np.cos(PI * x[0]) * np.sin(PI * x[1])])


def mms_grad_u(x: np.ndarray) -> np.ndarray:  # [i, j] = d u_i / d x_j
    c, s = np.cos(PI * x[0]) * np.cos(PI * x[1]), np.sin(PI * x[0]) * np.sin(PI * x[1])
    return PI**2 * np.stack([np.stack([c, -s]), np.stack([s, -c])])


def mms_p(x: np.ndarray) -> np.ndarray:
    return np.cos(PI * x[0]) * np.sin(2 * PI * x[1]) + x[0]


def mms_force(mu: float):
    def force(x: np.ndarray) -> np.ndarray:
        grad_p = np.stack([1.0 - PI * np.sin(PI * x[0]) * np.sin(2 * PI * x[1]),
                           2 * PI * np.cos(PI * x[0]) * np.cos(2 * PI * x[1])])
        return 2 * PI**2 * mu * mms_u(x) + grad_p

    return force


def mms_errors(n: int, mu: float, form: str) -> np.ndarray:
    """(velocity L2, velocity H1 seminorm, pressure L2 up to constants) on [0, 2] x [0, 1], 2n x n squares."""
    from skfem import Basis, ElementTriP1, Functional, MeshTri, asm

    mesh = MeshTri.init_tensor(np.linspace(0.0, 2.0, 2 * n + 1), np.linspace(0.0, 1.0, n + 1))
    th = TaylorHood(mesh, mu=mu, pin_pressure=True, viscous_form=form)
    vel, p = th.split(th.solve(mms_u, mms_force(mu)))
    bu = Basis(mesh, th.basis_u.elem, intorder=8)
    bp = bu.with_element(ElementTriP1())
    uh, ph = bu.interpolate(vel), bp.interpolate(p)
    area = 2.0
    mean_h = asm(Functional(lambda w: w.ph), bp, ph=ph) / area
    mean_e = asm(Functional(lambda w: mms_p(w.x)), bp) / area
    e_u = asm(Functional(lambda w: ((w.uh - mms_u(w.x)) ** 2).sum(0)), bu, uh=uh)
    e_h1 = asm(Functional(lambda w: ((w.uh.grad - mms_grad_u(w.x)) ** 2).sum((0, 1))), bu, uh=uh)
    e_p = asm(Functional(lambda w: (w.ph - mean_h - mms_p(w.x) + mean_e) ** 2), bp, ph=ph)
    return np.sqrt([e_u, e_h1, e_p])


@pytest.mark.parametrize(("mu", "form"), [(1.0, "gradient"), (MU, "gradient"), (MU, "symmetric")])
def test_manufactured_solution_converges_at_the_taylor_hood_orders(mu, form):
    # measured (mu = 1, gradient): orders 2.99, 3.00 (velocity L2), 1.99, 2.00 (H1), 2.10, 2.02 (pressure L2); at
    # mu = 0.01 the velocity is pre-asymptotic (pressure pollution ~ 1/mu) and converges faster than that
    errors = [mms_errors(n, mu, form) for n in (4, 8, 16, 32)]
    rates = orders(errors)  # (3, 3)
    assert rates[:, 0].min() > 2.7, rates
    assert rates[:, 1].min() > 1.8, rates
    assert rates[:, 2].min() > 1.8, rates
    assert errors[-1][0] < 1e-4 and errors[-1][2] < 2e-3


# ------------------------------------------------------------------------------------------------ mesh
def test_default_mesh_is_like_the_reference():
    mesh = cylinder_mesh()
    v, t = mesh.vertices, mesh.triangles
    assert v.dtype == np.float64 and v.shape[1] == 2 and t.shape[1] == 3 and t.dtype.kind == "i"
    assert 1600 <= v.shape[0] <= 1800  # the reference's data: 1,708 nodes
    assert np.array_equal(np.unique(t), np.arange(v.shape[0]))
    r = np.hypot(v[:, 0] - CENTRE[0], v[:, 1] - CENTRE[1])
    assert r.min() >= RADIUS - 1e-12  # no vertex inside the disk
    assert np.all((v >= -1e-12) & (v <= np.array([2.0, 1.0]) + 1e-12))
    e1, e2 = v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]]
    area = 0.5 * (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    assert area.min() > 0  # counter-clockwise
    polygon = 0.5 * mesh.boundary["cylinder"].shape[0] * RADIUS**2 * np.sin(2 * PI / mesh.boundary["cylinder"].shape[0])
    assert area.sum() == pytest.approx(2.0 - polygon, rel=1e-10)
    assert mesh.boundary["cylinder"].shape[0] >= 64


def test_boundary_marks_lie_on_their_boundaries():
    mesh = cylinder_mesh()
    v = mesh.vertices
    on = {name: v[np.unique(seg)] for name, seg in mesh.boundary.items()}
    assert np.allclose(on["inflow"][:, 0], 0.0) and np.allclose(on["outflow"][:, 0], 2.0)
    assert np.all(np.isclose(on["walls"][:, 1], 0.0) | np.isclose(on["walls"][:, 1], 1.0))
    assert np.allclose(np.hypot(on["cylinder"][:, 0] - CENTRE[0], on["cylinder"][:, 1] - CENTRE[1]), RADIUS)
    for name, extent in (("inflow", 1.0), ("outflow", 1.0), ("walls", 4.0), ("cylinder", 2 * PI * RADIUS)):
        seg = v[mesh.boundary[name]]
        assert np.linalg.norm(seg[:, 1] - seg[:, 0], axis=1).sum() == pytest.approx(extent, rel=1e-3)
    # every boundary edge of the triangulation is marked exactly once
    edges = np.sort(mesh.triangles[:, [[0, 1], [1, 2], [2, 0]]].reshape(-1, 2), axis=1)
    uniq, count = np.unique(edges, axis=0, return_counts=True)
    marked = np.sort(np.concatenate(list(mesh.boundary.values())), axis=1)
    assert {tuple(e) for e in uniq[count == 1]} == {tuple(e) for e in marked} and len(marked) == (count == 1).sum()


def test_mesh_is_deterministic_and_refines_by_four():
    mesh = cylinder_mesh()
    again = cylinder_mesh.__wrapped__(MeshSpec())  # a fresh gmsh run, not the cache
    assert np.array_equal(mesh.vertices, again.vertices) and np.array_equal(mesh.triangles, again.triangles)
    fine = cylinder_mesh(MeshSpec().refined())
    assert 3.5 <= fine.triangles.shape[0] / mesh.triangles.shape[0] <= 4.5
    assert fine.boundary["cylinder"].shape[0] == 2 * mesh.boundary["cylinder"].shape[0]


# ------------------------------------------------------------------------------------- cylinder solves
@functools.lru_cache(maxsize=4)
def solves(size: float) -> tuple[CylinderStokes, list[np.ndarray]]:
    solver = cylinder_solver(MeshSpec(size=size))
    return solver, [solver.solve_dofs(p) for p in PROFILES]


def errors_against(size: float, ref: float, points: np.ndarray) -> np.ndarray:
    """Relative L2 errors (profiles, 3) at ``points`` of the size-``size`` solutions against the size-``ref`` ones."""
    (s, xs), (r, xr) = solves(size), solves(ref)
    return np.array([rel_l2(s.solver.probe(a, points), r.solver.probe(b, points)) for a, b in zip(xs, xr, strict=True)])


def generic_points(n: int = 2000) -> np.ndarray:
    """Uniform random points of the domain (fixed seed): vertices of none of the meshes. At a mesh's own vertices
    the P2 nodal values are more accurate than the field between them, which would bias the observed rates."""
    x = np.random.default_rng(0).uniform((0.0, 0.0), (2.0, 1.0), (2 * n, 2))
    return x[np.hypot(x[:, 0] - CENTRE[0], x[:, 1] - CENTRE[1]) > RADIUS][:n]


def test_self_convergence_on_the_cylinder():
    # sizes 2, 1 against 1/2 (the finest of three meshes), worst profile: u 4.7e-4 -> 6.7e-5, v 2.0e-3 -> 2.8e-4,
    # p 2.7e-3 -> 8.1e-4. With the reference one level up, order q shows as a ratio of about 2^q + 1.
    coarse, medium = errors_against(2.0, 0.5, generic_points()), errors_against(1.0, 0.5, generic_points())
    ratio = coarse / medium  # (profiles, 3); measured min 6.3 (u), 6.7 (v), 3.4 (p)
    assert ratio[:, :2].min() > 5.0, ratio
    assert ratio[:, 2].min() > 2.8, ratio


def test_stored_truth_is_within_1e_3_of_a_mesh_refined_once_more():
    solver, xs = solves(1.0)
    fine, xf = solves(0.5)
    vertices = solver.mesh.vertices
    err = np.array([rel_l2(solver.solver.vertex_values(a), fine.solver.probe(b, vertices))
                    for a, b in zip(xs, xf, strict=True)])
    assert err.max() < 1e-3, err  # measured: u 2.3e-5, v 8.9e-5, p 3.7e-4 (worst profile)
    assert err[:, :2].max() < 2e-4, err


def test_vertex_values_are_the_solution_at_the_vertices():
    solver, xs = solves(1.0)
    u = solver.solver.vertex_values(xs[1])
    assert np.allclose(solver.solver.probe(xs[1], solver.mesh.vertices), u, atol=1e-12)
    assert np.array_equal(solver.solve(PROFILES[1]), u)
    inflow = np.unique(solver.mesh.boundary["inflow"])
    assert np.allclose(u[inflow, 0], PROFILES[1](solver.mesh.vertices[inflow]), atol=1e-14)
    wall = np.unique(np.concatenate([solver.mesh.boundary[k] for k in ("walls", "cylinder")]))
    assert np.abs(u[wall, :2]).max() < 1e-14  # a(1) = 2 sin(pi) (...) is 1e-16, not 0, at the corner (0, 1)
    with pytest.raises(ValueError, match="outside the mesh"):
        solver.solver.probe(xs[1], np.array([[0.5, 0.6]]))  # the cylinder's centre
    # the factorised system is solved to rounding
    th = solver.solver
    residual = th.matrix[th.free] @ xs[1]
    assert np.abs(residual).max() < 1e-9 * np.abs(xs[1]).max()


def flux(solver: CylinderStokes, x: np.ndarray, boundary: str) -> float:
    """Integral of u . n over one boundary (P2 velocity, exact quadrature)."""
    from skfem import FacetBasis, Functional, asm
    from skfem.helpers import dot

    th = solver.solver
    fb = FacetBasis(th.mesh, th.basis_u.elem, facets=solver.facets[boundary], intorder=6)
    return float(asm(Functional(lambda w: dot(w.u, w.n)), fb, u=fb.interpolate(th.split(x)[0])))


def test_mass_is_conserved():
    solver, xs = solves(1.0)
    for profile, x in zip(PROFILES, xs, strict=True):
        inflow, outflow = -flux(solver, x, "inflow"), flux(solver, x, "outflow")
        assert outflow == pytest.approx(inflow, rel=1e-10)  # int div u_h = 0 holds exactly (q = 1 is a test function)
        y, w = np.polynomial.legendre.leggauss(64)
        exact = 0.5 * w @ profile(0.5 * (y[:, None] + 1.0))
        assert inflow == pytest.approx(exact, rel=1e-5)  # the P2 interpolant of a(y)


def test_outflow_pressure_is_near_zero():
    # mu du/dn - p n = 0 holds with p = 0 for a developed flow; sigma n = 0 (the symmetric form's) does not
    solver, xs = solves(1.0)
    out = np.unique(solver.mesh.boundary["outflow"])
    for x in xs:
        u = solver.solver.vertex_values(x)
        assert np.abs(u[out, 2]).max() < 1e-3 * np.ptp(u[:, 2])
        assert np.abs(u[out, 1]).max() < 0.01 * np.abs(u[:, 1]).max()
    symmetric = cylinder_solver(MeshSpec(size=2.0), viscous_form="symmetric")
    p = symmetric.solve(PROFILES[1])[:, 2]
    assert np.abs(p[np.unique(symmetric.mesh.boundary["outflow"])]).max() > 0.1 * np.ptp(p)


# ------------------------------------------------------------------------------------------- inflows
def test_inflow_profiles():
    profile = InflowProfile(2.0, 3.0)
    y = np.linspace(0.0, 1.0, 7)
    expected = 2 * np.sin(PI * y) * (1 + np.sin(2 * y) + np.cos(3 * y))
    assert np.allclose(profile(np.stack([np.zeros_like(y), y], -1)), expected)
    assert np.allclose(profile(y[:, None]), expected)
    assert profile.parameters() == {"beta1": 2.0, "beta2": 3.0}
    field = InflowProfileField((1.0, 4.0), (4.0, 6.0))
    draws = [field.sample(np.random.default_rng(i)) for i in range(200)]
    b = np.array([[d.b1, d.b2] for d in draws])
    assert b[:, 0].min() >= 1 and b[:, 0].max() <= 4 and b[:, 1].min() >= 4 and b[:, 1].max() <= 6
    assert field.sample(np.random.default_rng(3)) == draws[3]
    assert field.describe()["b2_range"] == [4.0, 6.0]


# -------------------------------------------------------------------------------------------- preset
def test_preset_is_registered_and_describes_itself():
    preset = get_preset("stokes-cylinder")
    assert isinstance(preset, StokesPreset) and isinstance(preset, DataPreset)
    assert preset.splits == ("train", "val", "test", "test_ood_b46")
    x_a = preset.x_a()
    assert x_a.shape == (256, 2) and np.all(x_a[:, 0] == 0) and x_a[0, 1] == 0 and x_a[-1, 1] == 1
    assert preset.x_u().shape == (cylinder_mesh().vertices.shape[0], 2)
    info = preset.describe()
    assert info["mu"] == 0.01 and info["mesh"]["n_vertices"] == preset.x_u().shape[0]
    assert "mu du/dn - p n = 0" in info["solver"]["outflow"]
    assert info["field"]["b1_range"] == [1.0, 4.0] and info["ood"]["b46"]["b1_range"] == [4.0, 6.0]


def test_generate_writes_triangles_and_parameters(tmp_path):
    preset = get_preset("stokes-cylinder")
    counts = SplitCounts(train=3, val=2, test=2, ood=2)
    generate(preset, tmp_path / "one", counts=counts, seed=7)
    mesh = cylinder_mesh()
    for split in preset.splits:
        ds = load_h5(tmp_path / "one" / f"{split}.h5", require_u=True)
        n = counts.of(split)
        assert ds.a.shape == (n, 256) and ds.u.shape == (n, mesh.vertices.shape[0], 3)
        assert np.array_equal(ds.extras["triangles"], mesh.triangles) and ds.extras["triangles"].dtype == np.int64
        b1, b2 = ds.extras["beta1"], ds.extras["beta2"]
        assert b1.shape == b2.shape == (n,)
        lo, hi = (4.0, 6.0) if split.startswith("test_ood") else (1.0, 4.0)
        assert np.all((b1 >= lo) & (b1 <= hi) & (b2 >= lo) & (b2 <= hi))
        for k in range(n):
            profile = InflowProfile(float(b1[k]), float(b2[k]))
            assert np.allclose(ds.a[k], profile(inflow_points()), rtol=0, atol=1e-14)
            assert np.array_equal(ds.u[k], cylinder_solver().solve(profile))
        assert ds.attrs["preset"] == "stokes-cylinder" and ds.attrs["a_positive"] is False
    # shards merge to the single run, extras included
    for i in range(2):
        generate(preset, tmp_path / "shards", counts=counts, seed=7, shard=Shard(i, 2))
    merge([tmp_path / "shards"], tmp_path / "merged")
    for split in preset.splits:
        one, merged = load_h5(tmp_path / "one" / f"{split}.h5"), load_h5(tmp_path / "merged" / f"{split}.h5")
        assert np.array_equal(one.u, merged.u) and one.extras.keys() == merged.extras.keys()
        assert all(np.array_equal(one.extras[k], merged.extras[k]) for k in one.extras)
    # training data carries the triangles
    from dgno.training.data import load_training_data

    data = load_training_data(tmp_path / "one", preset="stokes-cylinder")
    assert data.triangles is not None and tuple(data.triangles.shape) == mesh.triangles.shape


# ----------------------------------------------------------------------------------- reference files
def test_triangulate_reference_nodes():
    mesh = cylinder_mesh()
    tri = triangulate_nodes(mesh.vertices)
    v = mesh.vertices
    centroid = v[tri].mean(axis=1)
    assert np.hypot(centroid[:, 0] - CENTRE[0], centroid[:, 1] - CENTRE[1]).min() >= RADIUS
    e1, e2 = v[tri[:, 1]] - v[tri[:, 0]], v[tri[:, 2]] - v[tri[:, 0]]
    area = 0.5 * (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    assert area.min() > 0
    n_circle = mesh.boundary["cylinder"].shape[0]
    assert area.sum() == pytest.approx(2.0 - 0.5 * n_circle * RADIUS**2 * np.sin(2 * PI / n_circle), rel=1e-10)


def stokes_mat_arrays(n: int = 3) -> dict[str, np.ndarray]:
    """A small file in the authors' layout: u, v, p (N, M) at gridx (M, 2) (our vertices), beta1 (N, 1), beta2 (N,)."""
    gridx = cylinder_mesh().vertices[::-1].copy()  # a node order of its own
    rng = np.random.default_rng(0)
    u, v, p = (rng.standard_normal((n, gridx.shape[0])) for _ in range(3))
    return {"u": u, "v": v, "p": p, "gridx": gridx, "beta1": np.array([[1.5], [2.0], [3.0]][:n]),
            "beta2": np.array([2.5, 3.0, 1.25][:n])}


@pytest.mark.parametrize("version", ["v5", "v7.3"])
def test_convert_reads_the_stokes_layout(tmp_path, version):
    arrays = stokes_mat_arrays()
    path = tmp_path / "stokesHole_test_in.mat"
    if version == "v5":
        scipy.io.savemat(path, arrays)
    else:  # MATLAB's v7.3: HDF5 with the axes reversed
        with h5py.File(path, "w", userblock_size=512) as f:
            for key, value in arrays.items():
                f.create_dataset(key, data=np.asarray(value).T)
    ds = load_reference_mat(path)
    assert ds.attrs["layout"] == "stokes" and ds.attrs["preset"] == "stokes-cylinder"
    m = arrays["gridx"].shape[0]
    assert ds.u.shape == (3, m, 3) and ds.a.shape == (3, 256) and np.array_equal(ds.x_u, arrays["gridx"])
    for c, key in enumerate("uvp"):
        assert np.array_equal(ds.u[..., c], arrays[key])
    assert np.array_equal(ds.extras["beta1"], [1.5, 2.0, 3.0]) and np.array_equal(ds.extras["beta2"], [2.5, 3.0, 1.25])
    assert np.allclose(ds.a[1], InflowProfile(2.0, 3.0)(inflow_points()))
    assert np.array_equal(ds.x_a, get_preset("stokes-cylinder").x_a())
    tri = ds.extras["triangles"]
    assert tri.shape[1] == 3 and tri.min() >= 0 and tri.max() < m


def test_convert_cli_writes_a_loadable_file(tmp_path):
    from dgno.cli import main

    src = tmp_path / "stokesHole_train.mat"
    scipy.io.savemat(src, stokes_mat_arrays(2))
    assert main(["data", "convert", str(src), "--out", str(tmp_path / "train.h5")]) == 0
    ds = load_h5(tmp_path / "train.h5", require_u=True)
    assert ds.u.shape[-1] == 3 and "triangles" in ds.extras and ds.attrs["preset"] == "stokes-cylinder"


def test_convert_rejects_mismatched_stokes_arrays(tmp_path):
    from dgno.errors import DgnoError

    arrays = stokes_mat_arrays()
    arrays["v"] = arrays["v"][:, :-1]
    path = tmp_path / "bad.mat"
    scipy.io.savemat(path, arrays)
    with pytest.raises(DgnoError, match="'v' has shape"):
        load_reference_mat(path)


# ----------------------------------------------------------------------------------------- slow study
@pytest.mark.slow
def test_refinement_study(capsys):
    """The convergence table of docs/stokes.md: sizes 1, 1/2 against 1/4 (25k vertices, 231k unknowns, 1.5 GB)."""
    points = generic_points()
    table = {size: errors_against(size, 0.25, points).max(axis=0) for size in (1.0, 0.5)}
    vertices = solves(1.0)[0]
    stored = np.array([rel_l2(vertices.solver.vertex_values(a), solves(0.25)[0].solver.probe(b, vertices.mesh.vertices))
                       for a, b in zip(solves(1.0)[1], solves(0.25)[1], strict=True)]).max(axis=0)
    with capsys.disabled():
        for size, err in table.items():
            print(f"\nsize {size}: max relative L2 error (u, v, p) at random points {err}")
        print(f"stored truth (size 1, at its vertices) against size 1/4: {stored}")
    assert stored.max() < 1e-3
    assert np.all(table[1.0][:2] / table[0.5][:2] > 6.0) and table[1.0][2] / table[0.5][2] > 3.3
