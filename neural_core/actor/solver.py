"""A batched, box-bounded, robust Levenberg-Marquardt solver (numpy).

Fitting solves hundreds of small, independent least-squares problems (one per frame, ~60
unknowns, ~1,000 residuals). ``scipy.optimize.least_squares`` solves one at a time and its
bounded method (``trf``) crawls when many unknowns sit on a bound, which is where most
ARKit values of a real frame sit (0). This solver runs every frame's problem at once
(batched matrix products) and handles bounds with an active set: an unknown on a bound
whose gradient pushes outwards is held for that step, the others take a damped
Gauss-Newton step that is then clipped to the box.

The problem object gives, for a state (any object it understands):

- ``evaluate(state) -> (r [B, M], J [B, M, P])``: residuals and their Jacobian with
  respect to a step ``delta [B, P]`` taken at ``state`` (which may be a local
  parametrisation: rotations are updated multiplicatively);
- ``step_bounds(state) -> (low [B, P], high [B, P])``: how far ``delta`` may go;
- ``retract(state, delta, accept [B]) -> state``: the state moved by ``delta`` for the
  problems where ``accept`` is true.

The robust loss is scipy's ``soft_l1`` (``rho(z) = 2 (sqrt(1 + z) - 1)``, z = (r / c)^2),
applied by iteratively reweighted least squares; ``robust_rows`` selects which residual
rows it applies to (priors stay quadratic).
"""

from dataclasses import dataclass

import numpy as np


@dataclass
class SolveResult:
    state: object  # the final state
    cost: np.ndarray  # [B] final robust cost per problem
    iterations: int  # iterations run
    converged: np.ndarray  # [B] bool: the relative cost decrease fell below the tolerance


def robust_cost(r, scale, robust_rows):
    """[B] soft_l1 cost over ``robust_rows``, plain squares over the other rows (times 1/2)."""
    cost = 0.5 * (r * r)
    if robust_rows is not None:
        z = (r[:, robust_rows] / scale) ** 2
        cost[:, robust_rows] = scale * scale * (np.sqrt(1.0 + z) - 1.0)
    return cost.sum(1)


def _weights(r, scale, robust_rows):
    """[B, M] square roots of the IRLS weights (1 on quadratic rows)."""
    w = np.ones_like(r)
    if robust_rows is not None:
        z = (r[:, robust_rows] / scale) ** 2
        w[:, robust_rows] = (1.0 + z) ** -0.25
    return w


def _normal_equations(r, J, scale, robust_rows):
    """(J^T W J [B, P, P], J^T W r [B, P]) with the IRLS weights W of the robust loss."""
    w = _weights(r, scale, robust_rows)
    Jw = np.multiply(J, w[..., None], out=np.empty(J.shape, np.float32), casting="same_kind")  # single precision
    # halves the dominant product (computed in double, rounded once, no double-sized temporary)
    Jt = np.swapaxes(Jw, 1, 2)
    H = (Jt @ Jw).astype(np.float64)  # batched BLAS (einsum: 20x slower)
    return H, np.einsum("bmp,bm->bp", J, r * w * w)


def solve(problem, state, *, scale=1.0, robust_rows=None, iterations=20, tolerance=1e-4,
          damping=1e-3, check=None):
    """Minimise every problem of the batch; see the module docstring. ``check``: called
    before every iteration (e.g. a cancel token's check that raises to stop)."""
    r, J = problem.evaluate(state)
    cost = robust_cost(r, scale, robust_rows)
    H, g = _normal_equations(r, J, scale, robust_rows)
    lam = np.full(len(cost), damping)
    converged = np.zeros(len(cost), dtype=bool)
    done = 0
    for done in range(1, iterations + 1):
        if check is not None:
            check()
        low, high = problem.step_bounds(state)
        held = ((low >= -1e-12) & (g > 0)) | ((high <= 1e-12) & (g < 0))  # on a bound, pushed out
        diag = np.einsum("bpp->bp", H)
        A = H + (lam[:, None] * np.maximum(diag, 1e-9))[..., None] * np.eye(H.shape[-1])
        A = np.where(held[:, None, :] | held[:, :, None], 0.0, A)  # held unknowns: delta = 0
        batch, unknown = np.nonzero(held)
        A[batch, unknown, unknown] = 1.0
        delta = np.linalg.solve(A, np.where(held, 0.0, -g)[..., None])[..., 0]
        delta = np.clip(delta, low, high)
        trial = problem.retract(state, delta, np.ones(len(cost), dtype=bool))
        r_new, J_new = problem.evaluate(trial)
        cost_new = robust_cost(r_new, scale, robust_rows)
        better = (cost_new < cost) & ~converged  # a converged problem keeps its state: each problem's
        converged |= better & ((cost - cost_new) <= tolerance * np.maximum(cost, 1e-12))  # result is the same in any batch
        state = problem.retract(state, delta, better)
        H_new, g_new = _normal_equations(r_new, J_new, scale, robust_rows)
        H = np.where(better[:, None, None], H_new, H)
        g = np.where(better[:, None], g_new, g)
        cost = np.where(better, cost_new, cost)
        lam = np.where(better, lam / 3.0, lam * 4.0)
        converged |= lam > 1e8  # no step helps any more: a minimum within the bounds
        if converged.all():
            break
    return SolveResult(state, cost, done, converged)
