"""Samplers: plain functions sharing one signature
``sampler(model, shape, tables, xi_start, *, pred, generator, device, dtype, progress, x_T, start, t_start)``,
all served by one loop, :func:`sample`.

`model(x_t, t)` returns the ε-target estimate (pred='eps') or v (pred='v'); `t` is 1-based (B,).
Every sampler starts at t = T from x_T ~ N(ξ, σ_0² I), ξ ~ q(ξ) = `xi_start` (start="prior"; the default
start="auto" is the same after :func:`gendiff.starts.check_prior_start`, which refuses with one line where that
start misses the forward law at T by more than 10 % in the brightness coordinate, e.g. base at SD's
scaled_linear beyond n = 67 per channel [start_mismatch.n_max_base]), or from
`start.draw(shape, tables, xi_start, generator=, device=, dtype=)` (e.g. a signal-leak start), or at the given
`x_T` (at step `t_start` ≤ T); it turns the network output into (x̂_0, ξ̂) = (E[x_0 | x_t], E[ξ | x_t]) with
:func:`gendiff.estimates.split_output` [result 'xi_posterior'], and adds no noise at its last step.

| sampler         | jumps of :func:`sample`                                                   | statement        |
|-----------------|---------------------------------------------------------------------------|------------------|
| `ancestral`     | rule 'ancestral' on T, T-1, ..., 1 (T network calls)                      | posterior.*      |
| `ddim`          | rule 'ddim' (η) or 'whitened' on a `timesteps` grid                       | ddim.*, jump_variance.* |
| `dpm_solver_2m` | rule 'dpm2m' (DPM-Solver++(2M) with ξ̂), first jump 'ddim' or 'whitened'  | dpm_solver.*     |

Few-step defaults (rule='auto', :mod:`gendiff.sampler_grids`): the whitened jumps wherever q(ξ) has a known
structure (DDIM's / DPM-Solver++'s where ξ ≡ 0): the frozen-mean jump loses the variance along the ξ direction
where c_t turns within a jump (balanced γ, β_T near 1: cosine) [jump_variance.cos2]; dpm_solver_2m's grid is
uniform in log-SNR where ᾱ collapses near T (`auto_grid`).

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import torch

from .estimates import PREDICTIONS, split_output
from .jumps import ddim_step, dpm2m_step, whitened2m_step, whitened_step
from .sampler_grids import SPACINGS, auto_grid, auto_rule, check_grid, logsnr_grid, timesteps
from .starts import check_prior_start
from .tables import Tables, extract
from .xi import Dirac, XiFamily

__all__ = ["SPACINGS", "RULES", "timesteps", "ddim_step", "sample", "ancestral", "ddim", "dpm_solver_2m"]
RULES = ("ddim", "whitened", "dpm2m", "whitened2m", "ancestral")


def _progress(it, enabled, desc):
    if not enabled:
        return it
    from tqdm.auto import tqdm
    return tqdm(it, desc=desc, leave=False)


def _start(shape, tables: Tables, xi_start: XiFamily, start, generator, device, dtype, x_T):
    """x_T ~ N(ξ, σ_0² I) with ξ ~ q(ξ) (ξ first, then ε, from `generator`), start.draw(...), or the given x_T."""
    if x_T is not None:
        if tuple(x_T.shape) != tuple(shape):
            raise ValueError(f"x_T has shape {tuple(x_T.shape)}, expected {tuple(shape)}")
        return x_T.to(device=device, dtype=dtype)
    if isinstance(start, str):
        if start not in ("auto", "prior"):
            raise ValueError(f"start must be 'auto', 'prior' or an object with a draw method, got {start!r}")
        if start == "auto":
            check_prior_start(tables, xi_start, shape)
        xi = xi_start.sample(shape, generator=generator, device=device, dtype=dtype)
        return xi + tables.sigma0 * torch.randn(shape, generator=generator, device=device, dtype=dtype)
    if not callable(getattr(start, "draw", None)):
        raise TypeError(f"start must be 'auto', 'prior' or an object with a draw method, got {type(start).__name__}")
    x = start.draw(tuple(shape), tables, xi_start, generator=generator, device=device, dtype=dtype)
    if tuple(x.shape) != tuple(shape):
        raise ValueError(f"start.draw returned shape {tuple(x.shape)}, expected {tuple(shape)}")
    return x.to(device=device, dtype=dtype)


def _check_pred(pred):
    if pred not in PREDICTIONS:
        raise ValueError(f"pred must be one of {PREDICTIONS}, got {pred!r}")


def _per_jump(eta, J):
    """η as a list of J floats in [0, 1]."""
    etas = [float(eta)] * J if isinstance(eta, (int, float)) and not isinstance(eta, bool) else [float(e) for e in eta]
    if len(etas) != J:
        raise ValueError(f"eta must be a number or one value per jump ({J}), got {len(etas)} values")
    bad = [e for e in etas if not 0.0 <= e <= 1.0]
    if bad:
        raise ValueError(f"eta must lie in [0, 1], got {bad[0]!r}")
    return etas


@torch.no_grad()
def sample(model, shape, tables: Tables, xi_start: XiFamily, *, grid, rule: str = "ddim", eta=0.0,
           first_rule: str | None = None, first_eta: float | None = None, t_start: int | None = None,
           start="auto", pred: str = "eps", generator=None, device=None, dtype=torch.float32, progress: bool = False,
           x_T=None, stock_update: bool = False, noise=None):
    """The one sampling loop: jumps grid[0] → grid[1] → ... → grid[-1] → 0 with one network call per grid step.

    grid: strictly descending 1-based steps; grid[0] = t_start (default T: no grid starts below T, where
    x_T ~ N(ξ, σ_0² I) holds; t_start < T needs the x_T of that step).  rule: 'ddim' (η per jump, a number or a
    list), 'whitened' (deterministic), 'dpm2m' (multistep, uses the previous step's means), 'ancestral'
    (posterior mean + σ_t² noise; needs s = t-1).  first_rule / first_eta override the first jump.
    stock_update=True sets ξ̂ = 0 (a stock scheduler's update, only to measure it).  noise: optional
    callable noise(i, like) -> the standard normal tensor of jump i (else drawn from `generator`).
    """
    _check_pred(pred)
    tables = tables.to(device) if device is not None else tables
    T = tables.T
    t0 = T if t_start is None else t_start
    if t_start is not None and (isinstance(t_start, bool) or not isinstance(t_start, int) or not 1 <= t_start <= T):
        raise ValueError(f"t_start must be an integer in 1..T = {T}, got {t_start!r}")
    if t0 < T and x_T is None:
        raise ValueError(f"t_start = {t0} < T = {T} needs x_T (the sample at step {t0})")
    grid = check_grid(grid, T, t0)
    rules = [rule] * len(grid)
    if first_rule is not None:
        rules[0] = first_rule
    for r in set(rules):
        if r not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {r!r}")
    etas = _per_jump(eta, len(grid))
    if first_eta is not None:
        etas[0] = _per_jump(first_eta, 1)[0]
    post = Dirac() if stock_update else xi_start
    x = _start(shape, tables, xi_start, start, generator, device, dtype, x_T)
    B, prev = shape[0], None
    for i in _progress(range(len(grid)), progress, "sampling"):
        t = torch.full((B,), grid[i], device=x.device, dtype=torch.long)
        s_int = grid[i + 1] if i + 1 < len(grid) else 0
        s = torch.full((B,), s_int, device=x.device, dtype=torch.long)
        x0_hat, xi_hat = split_output(model(x, t), x, t, tables, post, pred=pred)
        r = rules[i]
        stochastic = r == "ancestral" and s_int > 0 or r == "ddim" and etas[i] > 0 and s_int > 0
        z = None
        if stochastic:
            z = noise(i, x) if noise is not None else torch.randn(x.shape, generator=generator, device=x.device,
                                                                  dtype=x.dtype)
        if r == "ddim":
            x_new = ddim_step(x, x0_hat, xi_hat, t, s, tables, eta=etas[i], noise=z)
        elif r == "whitened":
            x_new = whitened_step(x, x0_hat, t, s, tables, post)
        elif r == "dpm2m":
            x_new = dpm2m_step(x, x0_hat, xi_hat, t, s, tables, prev=prev)
        elif r == "whitened2m":
            x_new = whitened2m_step(x, x0_hat, t, s, tables, post, prev=prev)
        else:
            if s_int != grid[i] - 1:
                raise ValueError(f"rule 'ancestral' needs the jump t → t-1, got {grid[i]} → {s_int}")
            x_new = (extract(tables.post_coef_x0, t, x) * x0_hat + extract(tables.post_coef_xt, t, x) * x
                     + extract(tables.post_coef_xi, t, x) * xi_hat)
            if z is not None:
                x_new = x_new + extract(tables.sigma2, t, x).sqrt() * z
        prev = (t, x0_hat, xi_hat) if r in ("dpm2m", "whitened2m") else None   # extrapolate only across 2M jumps
        x = x_new
    return x


def ancestral(model, shape, tables: Tables, xi_start: XiFamily, *, pred: str = "eps", generator=None,
              device=None, dtype=torch.float32, progress: bool = False, x_T=None, start="auto",
              t_start: int | None = None, noise=None):
    """Ancestral sampling (Algorithm 2 of Ho et al. 2020, generalised) from x_T ~ N(ξ, σ_0² I), ξ ~ q(ξ).

    Mean μ_θ = A_t x̂_0 + B_t x_t + C_t ξ̂ (result 'posterior'), exact for any γ; variance σ_t² =
    tables.sigma2, no noise at t = 1.  The model is called at t = t_start (default T), ..., 1.  Returns x_0.
    """
    t0 = tables.T if t_start is None else t_start
    return sample(model, shape, tables, xi_start, grid=list(range(t0, 0, -1)), rule="ancestral", t_start=t_start,
                  start=start, pred=pred, generator=generator, device=device, dtype=dtype, progress=progress,
                  x_T=x_T, noise=noise)


def _grid_for(tables, steps, spacing, grid, t_start):
    if grid is not None:
        return grid
    T = tables.T if t_start is None else t_start
    if spacing == "auto":
        return auto_grid(tables, steps) if T == tables.T else timesteps(T, steps, "trailing")
    if spacing == "logsnr":
        return logsnr_grid(tables, steps)
    return timesteps(T, steps, spacing)


def _rule_for(rule, tables, xi_start, stock_update, multistep, etas_positive):
    if rule != "auto":
        return rule
    if stock_update or etas_positive:
        return "dpm2m" if multistep else "ddim"
    return auto_rule(tables, xi_start, multistep=multistep)


def ddim(model, shape, tables: Tables, xi_start: XiFamily, *, steps: int = 50, eta=0.0,
         spacing: str = "trailing", pred: str = "eps", generator=None, device=None, dtype=torch.float32,
         progress: bool = False, x_T=None, stock_update: bool = False, rule: str = "auto",
         first_rule: str | None = None, first_eta: float | None = None, grid=None, start="auto",
         t_start: int | None = None, noise=None):
    """Generalized DDIM (Song et al. 2021, §4.1 with ξ): first-order jumps on `timesteps(T, steps, spacing)`
    (or `spacing='logsnr'` / 'auto', or the given `grid`), which starts at t = T; the last jump goes to s = 0.

    rule='auto' (the default) is the whitened jump [jump_variance.whitened_*] wherever q(ξ) has a known
    structure — DDIM's jump exactly where ξ ≡ 0 or γ ≡ 0 — and DDIM's jump of :func:`ddim_step` (ξ̂ = E[ξ | x_t],
    result 'xi_posterior') when η > 0 or stock_update.  rule='ddim' forces the frozen-mean jump, which on
    balanced γ with β_T near 1 loses the ξ-direction variance (cosine, n σ_c²/σ_0² = 256: 74 % at the jump
    T → T-1 [jump_variance.first_step_sin2_limit], `first_step_loss`).  stock_update=True sets ξ̂ = 0 (a stock DDIM scheduler's update), only to measure it.
    """
    g = _grid_for(tables, steps, spacing, grid, t_start)
    etas = [eta] if isinstance(eta, (int, float)) else list(eta)
    positive = any(float(e) > 0 for e in etas) or (first_eta is not None and float(first_eta) > 0)
    r = _rule_for(rule, tables, xi_start, stock_update, False, positive)
    return sample(model, shape, tables, xi_start, grid=g, rule=r, eta=eta, first_rule=first_rule,
                  first_eta=first_eta, t_start=t_start, start=start, pred=pred, generator=generator, device=device,
                  dtype=dtype, progress=progress, x_T=x_T, stock_update=stock_update, noise=noise)


def dpm_solver_2m(model, shape, tables: Tables, xi_start: XiFamily, *, steps: int = 20, spacing: str = "auto",
                  pred: str = "eps", generator=None, device=None, dtype=torch.float32, progress: bool = False,
                  x_T=None, stock_update: bool = False, rule: str = "auto", grid=None, start="auto",
                  t_start: int | None = None, noise=None):
    """DPM-Solver++(2M) (Lu et al. 2022, data-prediction multistep, "midpoint" form) generalized with ξ.

    One network call per grid step; the first jump is first order, the last one lands on x̂_0 (λ_0 = ∞),
    every other one extrapolates x̂_0 from the previous step [result 'dpm_solver'].  rule='dpm2m': the ξ̂-form
    (x̂_0 in λ, ξ̂ in u = c/σ); rule='whitened2m': the same on the whitened flow (x̂_0 in λ' per eigen-direction
    of Σ_ξ, no ξ̂); 'auto' (default) is 'whitened2m' wherever q(ξ) has a known structure.  Both are diffusers'
    DPMSolverMultistepScheduler(solver_order=2) at ξ ≡ 0.  spacing='auto' (default): uniform in λ where ᾱ
    collapses near T (cosine, zero terminal SNR; `auto_grid`), else trailing.
    """
    g = _grid_for(tables, steps, spacing, grid, t_start)
    return sample(model, shape, tables, xi_start, grid=g, rule=_rule_for(rule, tables, xi_start, stock_update, True,
                                                                         False),
                  t_start=t_start, start=start, pred=pred, generator=generator, device=device, dtype=dtype,
                  progress=progress, x_T=x_T, stock_update=stock_update, noise=noise)
