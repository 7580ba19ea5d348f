"""Stokes flow around a cylinder: the gmsh mesh, the Taylor-Hood (P2/P1) solver and the inflow profiles.

Problem (DGNO paper, "Stokes around a cylinder"): -mu Lap u + grad p = 0, div u = 0, mu = 0.01, on the channel
[0, 2] x [0, 1] minus the disk of radius 0.1 centred at (0.5, 0.6); u = v = 0 on the walls y = 0, y = 1 and on
the cylinder; u = (a(y), 0) at the inflow x = 0 with a(y) = 2 sin(pi y) (1 + sin(b1 y) + cos(b2 y)).

Outflow x = 2: the classical natural ("do-nothing") condition of the gradient form of the viscous term,
mu du/dn - p n = 0 (Heywood, Rannacher and Turek 1996), from the weak form

    find (u, p):  mu (grad u, grad w) - (p, div w) - (q, div u) = (f, w)  for all (w, q).

A fully developed (Poiseuille) flow satisfies it with p = 0, so p ~ 0 at x = 2: the reference's soft p = 0
there (measured: max |p| on x = 2 is 1.6e-4 of the pressure range). The symmetric-stress form
2 mu (eps(u), eps(w)), whose natural condition is sigma n = 0 with sigma = -p I + mu (grad u + grad u^T), is the
same PDE inside the domain (div u = 0) but its outflow condition also asks mu (u_y + v_x) = 0, which no
Poiseuille flow satisfies: the flow bends at the outlet (|v| up to 0.8 on x = 2) and p there reaches 17% of
the pressure range. It is available as ``viscous_form="symmetric"``; see docs/stokes.md.

Discretisation: Taylor-Hood P2 velocity / P1 pressure (inf-sup stable; velocity errors O(h^3) in L2 and
O(h^2) in H1, pressure O(h^2) in L2 for smooth solutions) on a triangle mesh from gmsh (OCC rectangle minus
disk, sizes graded towards the cylinder and the inflow) whose triangles on the cylinder are curved (quadratic,
isoparametric) so that the circle is not replaced by a polygon. The Dirichlet values are the nodal (P2)
interpolant of the boundary data. The saddle-point matrix does not depend on the inflow, so it is assembled
and factorised (SuperLU) once per mesh and per process, and every inflow costs one forward/back substitution.
Measured accuracy: tests/test_stokes_reference.py and docs/stokes.md.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import torch

from dgno.fields.base import TwoParameterFamily

MU = 0.01
CHANNEL = (2.0, 1.0)  # length (x) and height (y) of the channel [0, 2] x [0, 1]
CENTRE = (0.5, 0.6)
RADIUS = 0.1
BOUNDARIES = ("inflow", "outflow", "walls", "cylinder")
# the viscous term: mu (grad u, grad w), natural condition mu du/dn - p n = 0; or 2 mu (eps(u), eps(w)), sigma n = 0
VISCOUS_FORMS = ("gradient", "symmetric")
_WEAK_FORMS = {
    "gradient": "mu (grad u, grad w) - (p, div w) - (q, div u) = 0",
    "symmetric": "2 mu (eps(u), eps(w)) - (p, div w) - (q, div u) = 0",
}
_OUTFLOWS = {
    "gradient": "natural do-nothing condition mu du/dn - p n = 0 at x = 2 (p = 0 for developed flow)",
    "symmetric": "natural condition sigma n = 0, sigma = -p I + mu (grad u + grad u^T), at x = 2",
}


# ------------------------------------------------------------------------------------------------ mesh
@dataclass(frozen=True)
class MeshSpec:
    """Mesh sizes of the cylinder channel, all multiplied by ``size``.

    The target size is the smaller of two gmsh Distance + Threshold fields: one grows linearly with the distance
    d from the circle, from ``h_min`` (d <= ``d_min``) to ``h_max`` (d >= ``d_max``); the other from ``h_inflow``
    at x = 0 to ``h_max`` at x = ``d_inflow`` (None: no inflow refinement). ``size = 1``: 1,718 vertices, 3,235
    triangles, 66 segments on the circle (the reference's data have 1,708 nodes); ``size = 1/2``, the mesh
    "refined once more", has 3.9 times the triangles.

    Why these sizes: with straight triangles the error of the polygonal cylinder dominated (5e-3 at the vertices
    under it), hence the curved (isoparametric) cylinder of :class:`CylinderStokes`; then the pressure error sat
    at the inflow, hence its refinement (max over test profiles of the relative pressure error, against a mesh
    four times finer, 7.0e-4 without it, 3.0e-4 with it at the same vertex count).
    """

    size: float = 1.0
    h_min: float = 0.0095
    h_max: float = 0.068
    d_min: float = 0.0
    d_max: float = 0.5
    h_inflow: float | None = 0.02  # size at the inflow x = 0, growing linearly to h_max at x = d_inflow
    d_inflow: float = 0.3
    algorithm: int = 6  # gmsh's Frontal-Delaunay

    def __post_init__(self) -> None:
        if not (self.size > 0 and 0 < self.h_min <= self.h_max and 0 <= self.d_min < self.d_max):
            raise ValueError(f"need size > 0, 0 < h_min <= h_max and 0 <= d_min < d_max; got {self}")

    def refined(self, factor: float = 2.0) -> MeshSpec:
        """The same grading with every size divided by ``factor`` (about factor^2 times the triangles)."""
        return MeshSpec(**{**asdict(self), "size": self.size / factor})


@dataclass(frozen=True)
class CylinderMesh:
    """A straight-sided triangle mesh of the channel minus the disk.

    ``vertices`` (Nv, 2) float64; ``triangles`` (Nt, 3) int64 vertex indices, counter-clockwise;
    ``boundary[name]`` (E, 2) int64 vertex indices of the boundary segments of ``inflow`` (x = 0), ``outflow``
    (x = 2), ``walls`` (y = 0 and y = 1) and ``cylinder`` (the circle; its vertices lie on it).
    """

    vertices: np.ndarray
    triangles: np.ndarray
    boundary: dict[str, np.ndarray]
    spec: MeshSpec

    def describe(self) -> dict[str, Any]:
        import gmsh

        return {
            "generator": "gmsh (OCC rectangle minus disk; Distance + Threshold size fields from the circle and the "
                         "inflow, their minimum; one thread, fixed seed)",
            "gmsh": gmsh.__version__,
            **asdict(self.spec),
            "n_vertices": int(self.vertices.shape[0]),
            "n_triangles": int(self.triangles.shape[0]),
            "n_cylinder_segments": int(self.boundary["cylinder"].shape[0]),
        }


def _classify_curve(com: tuple[float, float, float]) -> str:
    """The boundary a curve belongs to, from its centre of mass."""
    x, y = com[0], com[1]
    if abs(np.hypot(x - CENTRE[0], y - CENTRE[1])) < 1e-6:
        return "cylinder"
    if abs(x) < 1e-9:
        return "inflow"
    if abs(x - CHANNEL[0]) < 1e-9:
        return "outflow"
    return "walls"


def _gmsh_mesh(spec: MeshSpec) -> CylinderMesh:
    """Mesh with gmsh; a gmsh session the caller already opened is used (its global mesh options change)."""
    import gmsh

    own = not gmsh.isInitialized()
    if own:
        gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.option.setNumber("General.NumThreads", 1)
        gmsh.option.setNumber("Mesh.MaxNumThreads2D", 1)
        gmsh.option.setNumber("Mesh.RandomSeed", 1)
        gmsh.model.add("dgno-stokes-cylinder")
        occ = gmsh.model.occ
        rect = occ.addRectangle(0.0, 0.0, 0.0, *CHANNEL)
        disk = occ.addDisk(*CENTRE, 0.0, RADIUS, RADIUS)
        occ.cut([(2, rect)], [(2, disk)])
        occ.synchronize()
        kinds = {tag: _classify_curve(occ.getCenterOfMass(1, tag)) for _, tag in gmsh.model.getEntities(1)}
        field = gmsh.model.mesh.field
        distance = field.add("Distance")
        field.setNumbers(distance, "CurvesList", [t for t, k in kinds.items() if k == "cylinder"])
        field.setNumber(distance, "Sampling", 400)
        threshold = field.add("Threshold")
        field.setNumber(threshold, "InField", distance)
        field.setNumber(threshold, "SizeMin", spec.h_min * spec.size)
        field.setNumber(threshold, "SizeMax", spec.h_max * spec.size)
        field.setNumber(threshold, "DistMin", spec.d_min)
        field.setNumber(threshold, "DistMax", spec.d_max)
        background = threshold
        if spec.h_inflow is not None:
            to_inflow = field.add("Distance")
            field.setNumbers(to_inflow, "CurvesList", [t for t, k in kinds.items() if k == "inflow"])
            field.setNumber(to_inflow, "Sampling", 200)
            inflow = field.add("Threshold")
            field.setNumber(inflow, "InField", to_inflow)
            field.setNumber(inflow, "SizeMin", spec.h_inflow * spec.size)
            field.setNumber(inflow, "SizeMax", spec.h_max * spec.size)
            field.setNumber(inflow, "DistMin", 0.0)
            field.setNumber(inflow, "DistMax", spec.d_inflow)
            background = field.add("Min")
            field.setNumbers(background, "FieldsList", [threshold, inflow])
        field.setAsBackgroundMesh(background)
        for option in ("MeshSizeExtendFromBoundary", "MeshSizeFromPoints", "MeshSizeFromCurvature"):
            gmsh.option.setNumber(f"Mesh.{option}", 0)
        gmsh.option.setNumber("Mesh.Algorithm", spec.algorithm)
        gmsh.model.mesh.generate(2)

        tags, coords, _ = gmsh.model.mesh.getNodes()
        index = np.full(int(tags.max()) + 1, -1, dtype=np.int64)
        index[tags.astype(np.int64)] = np.arange(tags.size)
        vertices = np.asarray(coords, dtype=np.float64).reshape(-1, 3)[:, :2].copy()
        _, _, nodes = gmsh.model.mesh.getElements(2)
        triangles = index[np.asarray(nodes[0], dtype=np.int64).reshape(-1, 3)]
        segments: dict[str, list[np.ndarray]] = {name: [] for name in BOUNDARIES}
        for tag, kind in kinds.items():
            _, _, edge_nodes = gmsh.model.mesh.getElements(1, tag)
            segments[kind].append(index[np.asarray(edge_nodes[0], dtype=np.int64).reshape(-1, 2)])
        gmsh.model.remove()
    finally:
        if own:
            gmsh.finalize()
    used = np.unique(triangles)  # gmsh keeps no orphan nodes in 2-D, but be sure
    if used.size != vertices.shape[0]:
        renumber = np.full(vertices.shape[0], -1, dtype=np.int64)
        renumber[used] = np.arange(used.size)
        vertices, triangles = vertices[used], renumber[triangles]
        segments = {k: [renumber[s] for s in v] for k, v in segments.items()}
    e1, e2 = (vertices[triangles[:, i]] - vertices[triangles[:, 0]] for i in (1, 2))
    flip = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0] < 0
    triangles[flip] = triangles[flip][:, [0, 2, 1]]
    boundary = {k: np.concatenate(v) if v else np.empty((0, 2), np.int64) for k, v in segments.items()}
    for arr in (vertices, triangles, *boundary.values()):
        arr.setflags(write=False)
    return CylinderMesh(vertices=vertices, triangles=triangles, boundary=boundary, spec=spec)


@functools.lru_cache(maxsize=8)
def cylinder_mesh(spec: MeshSpec = MeshSpec()) -> CylinderMesh:
    """The gmsh mesh of ``spec`` (cached per process; arrays read-only). Deterministic: one thread, fixed seed."""
    return _gmsh_mesh(spec)


# ---------------------------------------------------------------------------------------------- solver
Vector = Callable[[np.ndarray], np.ndarray]  # points (2, n) -> values (2, n)


class TaylorHood:
    """P2/P1 Taylor-Hood discretisation of V(u, w) - (p, div w) - (q, div u) = (f, w) (scikit-fem), with the viscous
    term V(u, w) = mu (grad u, grad w) (``viscous_form="gradient"``) or 2 mu (eps(u), eps(w)) (``"symmetric"``).

    ``mesh`` is an skfem triangle mesh: MeshTri (straight sides) or MeshTri2 (quadratic, isoparametric).
    ``dirichlet`` (facet indices of ``mesh``; None: the whole boundary) carry the velocity given to :meth:`solve`;
    the other boundary facets get the form's natural condition. ``pin_pressure`` fixes the pressure at vertex 0 to 0
    (for all-Dirichlet problems, where p is determined up to a constant). The block matrix is assembled and its
    Dirichlet-condensed part LU-factorised here, once; :meth:`solve` then costs one substitution.
    Unknowns: the velocity dofs of ``basis_u`` (u^1 and u^2), then the pressure dofs of ``basis_p``.
    """

    def __init__(self, mesh: Any, *, mu: float, dirichlet: np.ndarray | None = None, pin_pressure: bool = False,
                 viscous_form: str = "gradient", intorder: int = 4) -> None:
        from skfem import Basis, BilinearForm, ElementTriP1, ElementTriP2, ElementVector, asm
        from skfem.helpers import ddot, div, grad, sym_grad

        if viscous_form not in VISCOUS_FORMS:
            raise ValueError(f"viscous_form must be one of {', '.join(VISCOUS_FORMS)}, got {viscous_form!r}")

        self.mu = float(mu)
        self.mesh = mesh
        self.basis_u = Basis(self.mesh, ElementVector(ElementTriP2()), intorder=intorder)
        self.basis_p = self.basis_u.with_element(ElementTriP1())
        mu_ = self.mu

        @BilinearForm
        def viscous(u, w, _):
            if viscous_form == "gradient":
                return mu_ * ddot(grad(u), grad(w))
            return 2.0 * mu_ * ddot(sym_grad(u), sym_grad(w))

        @BilinearForm
        def divergence(u, q, _):
            return -div(u) * q

        a = asm(viscous, self.basis_u)
        b = asm(divergence, self.basis_u, self.basis_p)  # (N_p, N_u)
        self.matrix = scipy.sparse.bmat([[a, b.T], [b, None]], format="csr")
        self.n_u, self.n_p = self.basis_u.N, self.basis_p.N
        facets = self.mesh.boundary_facets() if dirichlet is None else np.asarray(dirichlet)
        velocity = np.unique(self.basis_u.get_dofs(facets).all())
        self.component = np.zeros(self.n_u, dtype=np.int64)  # 0: u^1, 1: u^2
        self.component[self.basis_u.nodal_dofs[1]] = 1
        self.component[self.basis_u.facet_dofs[1]] = 1
        self.velocity_dofs = velocity
        pressure = np.array([self.n_u + self.basis_p.nodal_dofs[0, 0]]) if pin_pressure else np.empty(0, np.int64)
        self.fixed = np.concatenate([velocity, pressure])
        self.free = np.setdiff1d(np.arange(self.n_u + self.n_p), self.fixed)
        k_free = self.matrix[self.free]
        self._k_fixed = k_free[:, self.fixed].tocsr()
        # minimum degree on A^T + A with (nearly) diagonal pivots: a quarter of the time and half the fill of the
        # default COLAMD with partial pivoting on the saddle-point matrix (1.2 s against 5.5 s for 57k unknowns)
        self._lu = scipy.sparse.linalg.splu(k_free[:, self.free].tocsc(), permc_spec="MMD_AT_PLUS_A",
                                            diag_pivot_thresh=0.01, options={"SymmetricMode": True})

    def solve(self, velocity: Vector | None = None, force: Vector | None = None) -> np.ndarray:
        """The dof vector (N_u + N_p,) for Dirichlet velocity ``velocity`` and body force ``force`` (None: zero).

        Both map points (2, n) to vectors (2, n); ``velocity`` is evaluated at the Dirichlet dof locations.
        """
        x = np.zeros(self.n_u + self.n_p)
        if velocity is not None:
            locs = self.basis_u.doflocs[:, self.velocity_dofs]
            values = np.asarray(velocity(locs), dtype=float)  # (2, n)
            x[self.velocity_dofs] = values[self.component[self.velocity_dofs], np.arange(locs.shape[1])]
        rhs = np.zeros(self.n_u + self.n_p)
        if force is not None:
            from skfem import LinearForm, asm
            from skfem.helpers import dot

            @LinearForm
            def load(w, data):
                return dot(np.asarray(force(data.x)), w)

            rhs[: self.n_u] = asm(load, self.basis_u)
        x[self.free] = self._lu.solve(rhs[self.free] - self._k_fixed @ x[self.fixed])
        return x

    def split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(velocity dofs (N_u,), pressure dofs (N_p,)) of a dof vector."""
        return x[: self.n_u], x[self.n_u :]

    def vertex_values(self, x: np.ndarray) -> np.ndarray:
        """(u, v, p) at the mesh vertices (the P2 and P1 vertex dofs): shape (Nv, 3)."""
        vel, p = self.split(x)
        return np.stack([vel[self.basis_u.nodal_dofs[0]], vel[self.basis_u.nodal_dofs[1]],
                         p[self.basis_p.nodal_dofs[0]]], axis=-1)

    def locate(self, points: np.ndarray, *, tol: float = 1e-9) -> np.ndarray:
        """The triangle (n,) holding each of ``points`` (n, 2); points within ``tol`` (relative to the triangle's
        size) outside the mesh, e.g. on a boundary up to rounding, get the nearest triangle. ValueError if none."""
        from scipy.spatial import cKDTree

        # the straight triangles (T, 3, 2): a curved one covers the same points but for the sliver between its
        # chord and the circle, where a point on the circle then lies on its curved edge
        corners = self.mesh.p.T[self.mesh.t.T]
        pts = np.asarray(points, dtype=float).reshape(-1, 2)

        def best(p: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # (n, k) candidates
            a, b, c = (corners[cand, i] for i in range(3))  # (n, k, 2)
            lam = np.linalg.solve(np.stack([b - a, c - a], axis=-1), (p[:, None, :] - a)[..., None])[..., 0]
            bary = np.concatenate([1.0 - lam.sum(-1, keepdims=True), lam], axis=-1).min(-1)  # (n, k)
            i = bary.argmax(axis=1)
            rows = np.arange(p.shape[0])
            return cand[rows, i], bary[rows, i]

        k = min(16, corners.shape[0])
        _, near = cKDTree(corners.mean(axis=1)).query(pts, k=k)  # the triangles with the nearest centroids
        cells, inside = best(pts, near.reshape(pts.shape[0], k))
        for i in np.flatnonzero(inside < -tol):  # not among them (strong grading): search every triangle
            cells[i], inside[i] = (v[0] for v in best(pts[i : i + 1], np.arange(corners.shape[0])[None]))
            if inside[i] < -tol:
                raise ValueError(f"point {pts[i].tolist()} is outside the mesh")
        return cells

    def probe(self, x: np.ndarray, points: np.ndarray) -> np.ndarray:
        """(u, v, p) of the finite-element solution at ``points`` (n, 2) in the mesh (see :meth:`locate`): (n, 3)."""
        vel, p = self.split(x)
        pts = np.ascontiguousarray(np.asarray(points, dtype=float).T)
        cells = self.locate(pts.T)
        (u1, b1), (u2, b2) = self.basis_u.split(vel)
        return np.stack([_probes(b1, pts, cells) @ u1, _probes(b2, pts, cells) @ u2,
                         _probes(self.basis_p, pts, cells) @ p], axis=-1)


def _probes(basis: Any, x: np.ndarray, cells: np.ndarray) -> scipy.sparse.coo_matrix:
    """skfem's CellBasis.probes for a scalar basis with the cells given (its own finder has no tolerance)."""
    pts = basis.mapping.invF(x[:, :, np.newaxis], tind=cells)
    phis = np.array([basis.elem.gbasis(basis.mapping, pts, k, tind=cells)[0] for k in range(basis.Nbfun)]).ravel()
    rows = np.tile(np.arange(x.shape[1]), basis.Nbfun)
    cols = basis.element_dofs[:, cells].ravel()
    return scipy.sparse.coo_matrix((phis, (rows, cols)), shape=(x.shape[1], basis.N)).tocsr()


class CylinderStokes:
    """The cylinder channel on the mesh of ``spec``: no slip on walls and cylinder, inflow (a(y), 0) at x = 0 and
    the natural condition of ``viscous_form`` at x = 2. The triangles along the cylinder are curved (quadratic,
    isoparametric: their edge midpoints moved onto the circle) unless ``curved=False``. Assembled and factorised
    once (use :func:`cylinder_solver` for the per-process cache)."""

    def __init__(self, spec: MeshSpec = MeshSpec(), mu: float = MU, viscous_form: str = "gradient",
                 curved: bool = True) -> None:
        self.spec, self.mu, self.viscous_form, self.curved = spec, mu, viscous_form, curved
        self.mesh = cylinder_mesh(spec)
        fem_mesh, self.facets = skfem_cylinder_mesh(self.mesh, curved=curved)
        dirichlet = np.concatenate([self.facets[k] for k in ("inflow", "walls", "cylinder")])
        self.solver = TaylorHood(fem_mesh, mu=mu, viscous_form=viscous_form, dirichlet=dirichlet)

    def solve_dofs(self, profile: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """The dof vector for the inflow profile a (points (n, 2) -> (n,))."""

        def velocity(x: np.ndarray) -> np.ndarray:  # (2, n) -> (2, n): (a(y), 0) at x = 0, zero elsewhere
            inflow = x[0] < 1e-9  # the Dirichlet dofs on x = 0 (the wall corners there get a = 0)
            out = np.zeros_like(x)
            out[0, inflow] = np.asarray(profile(x[:, inflow].T), dtype=float)
            return out

        return self.solver.solve(velocity)

    def solve(self, profile: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """(u, v, p) at the mesh vertices, (Nv, 3), for the inflow profile a."""
        return self.solver.vertex_values(self.solve_dofs(profile))

    def describe(self) -> dict[str, Any]:
        return {
            "type": "TaylorHood",
            "library": f"scikit-fem {_version('scikit-fem')}, scipy {scipy.__version__}",
            "elements": "P2 velocity / P1 pressure (Taylor-Hood)",
            "geometry": "quadratic (isoparametric) triangles on the cylinder" if self.curved else "straight triangles",
            "weak_form": _WEAK_FORMS[self.viscous_form],
            "outflow": _OUTFLOWS[self.viscous_form],
            "dirichlet": "nodal P2 interpolant: (a(y), 0) at x = 0, 0 on walls and cylinder",
            "linear_solver": "scipy.sparse.linalg.splu (SuperLU, MMD_AT_PLUS_A), factorised once per mesh",
            "quadrature_order": 4,
            "n_dofs": int(self.solver.n_u + self.solver.n_p),
            "output": "P2 velocity and P1 pressure vertex dofs",
        }


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def skfem_cylinder_mesh(mesh: CylinderMesh, *, curved: bool = True) -> tuple[Any, dict[str, np.ndarray]]:
    """The skfem mesh of ``mesh`` (MeshTri2 with the cylinder's edge midpoints on the circle if ``curved``, else
    MeshTri) and its boundary facet indices by name (from the gmsh boundary segments)."""
    from skfem import MeshTri, MeshTri2

    m = MeshTri(np.ascontiguousarray(mesh.vertices.T), np.ascontiguousarray(mesh.triangles.T))
    boundary = m.boundary_facets()
    lookup = {tuple(sorted(f)): i for i, f in zip(boundary, m.facets[:, boundary].T.tolist(), strict=True)}
    facets = {name: np.array([lookup[tuple(sorted(s))] for s in seg.tolist()], dtype=np.int64)
              for name, seg in mesh.boundary.items()}
    if sum(len(v) for v in facets.values()) != len(lookup):
        raise RuntimeError("the gmsh boundary segments do not cover the mesh boundary")
    if not curved:
        return m, facets
    m2 = MeshTri2.from_mesh(m)
    if not np.array_equal(m2.facets, m.facets):
        raise RuntimeError("skfem numbered the facets of the quadratic mesh differently")
    dofs = m2.dofs.facet_dofs[0, facets["cylinder"]]  # the midpoints of the circle's chords
    doflocs = m2.doflocs.copy()
    rel = doflocs[:, dofs] - np.array(CENTRE)[:, None]
    doflocs[:, dofs] = np.array(CENTRE)[:, None] + RADIUS * rel / np.linalg.norm(rel, axis=0)
    return replace(m2, doflocs=doflocs), facets


@functools.lru_cache(maxsize=4)
def cylinder_solver(spec: MeshSpec = MeshSpec(), mu: float = MU, viscous_form: str = "gradient",
                    curved: bool = True) -> CylinderStokes:
    """The factorised cylinder problem, cached per process (data generation re-uses it for every sample)."""
    return CylinderStokes(spec, mu, viscous_form, curved)


# ------------------------------------------------------------------------------------------ inflows
def _y(x: np.ndarray) -> np.ndarray:
    """y of points (..., 2) (x, y), or of points (..., 1) (y) on the inflow line."""
    x = np.asarray(x, dtype=float)
    return x[..., 1] if x.shape[-1] == 2 else x[..., 0]


@dataclass(frozen=True)
class InflowProfile:
    """a(y) = 2 sin(pi y) (1 + sin(b1 y) + cos(b2 y)); called at points (..., 2) (uses y) or (..., 1), returns (...)."""

    b1: float
    b2: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = _y(x)
        return 2.0 * np.sin(np.pi * y) * (1.0 + np.sin(self.b1 * y) + np.cos(self.b2 * y))

    def parameters(self) -> dict[str, float]:
        """The per-sample parameters data generation stores (as extras/beta1, extras/beta2, the reference's names)."""
        return {"beta1": self.b1, "beta2": self.b2}


@dataclass(frozen=True)
class InflowProfileField(TwoParameterFamily):
    """Inflow profiles with b1 ~ U(b1_range) and b2 ~ U(b2_range), independent."""

    b1_range: tuple[float, float] = (1.0, 4.0)
    b2_range: tuple[float, float] = (1.0, 4.0)

    def __post_init__(self) -> None:
        for lo, hi in (self.b1_range, self.b2_range):
            if not lo <= hi:
                raise ValueError(f"need ranges lo <= hi, got {self}")

    def sample(self, rng: np.random.Generator) -> InflowProfile:
        b1 = float(rng.uniform(*self.b1_range))
        b2 = float(rng.uniform(*self.b2_range))
        return InflowProfile(b1, b2)

    def describe(self) -> dict[str, Any]:
        return {
            "type": "InflowProfileField",
            "profile": "a(y) = 2 sin(pi y) (1 + sin(b1 y) + cos(b2 y))",
            "b1": f"U({self.b1_range[0]:g}, {self.b1_range[1]:g})",
            "b2": f"U({self.b2_range[0]:g}, {self.b2_range[1]:g})",
            "b1_range": list(self.b1_range),
            "b2_range": list(self.b2_range),
        }

    def evaluate(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """a at points x (..., 2) (uses y) for parameters (n, 2) = (b1, b2): (n, ...), differentiable in both (the
        parametric family of inversions with a prior on b1, b2)."""
        b1, b2 = self.split(params, x)
        y = x[..., 1]
        return 2.0 * torch.sin(math.pi * y) * (1.0 + torch.sin(b1 * y) + torch.cos(b2 * y))


# ------------------------------------------------------------------------------------- reference data
def inflow_points(n: int = 256) -> np.ndarray:
    """The stored inflow points (0, y_j), y_j = j / (n - 1): shape (n, 2)."""
    y = np.linspace(0.0, 1.0, n)
    return np.stack([np.zeros_like(y), y], axis=-1)


def triangulate_nodes(points: np.ndarray) -> np.ndarray:
    """Triangles (T, 3), counter-clockwise, of a node set of the channel minus the disk (files without a mesh):
    the Delaunay triangulation of ``points`` (M, 2) without the triangles whose centroid lies inside the disk."""
    from scipy.spatial import Delaunay

    points = np.asarray(points, dtype=float)
    tri = Delaunay(points).simplices.astype(np.int64)
    centroid = points[tri].mean(axis=1)
    tri = tri[np.hypot(centroid[:, 0] - CENTRE[0], centroid[:, 1] - CENTRE[1]) >= RADIUS]
    e1, e2 = (points[tri[:, i]] - points[tri[:, 0]] for i in (1, 2))
    flip = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0] < 0
    tri[flip] = tri[flip][:, [0, 2, 1]]
    return tri
