"""Coefficient tables of the generalized model, built once in float64 from β, γ and σ_0.

| code name             | paper symbol                      | derivation statement        |
|-----------------------|-----------------------------------|-----------------------------|
| `alpha_bar`           | ᾱ_t                               | definition                  |
| `one_minus_alpha_bar` | 1 - ᾱ_t (via expm1)               | definition                  |
| `gamma`               | γ_t                               | balanced.gamma / user       |
| `c`                   | c_t, ξ-coefficient of E[x_t|x_0,ξ] | forward.c, forward.c_sum_term |
| `psi`                 | ψ_t (input noise weight of ξ)     | forward.psi                 |
| `phi`                 | ϕ_t (target noise weight of ξ)    | elbo.phi                    |
| `lam`                 | λ_t (ELBO weight)                 | elbo.lam                    |
| `lam_v`               | λ_t ᾱ_t (ELBO weight for v)       | elbo.lam, vpred.v_weight    |
| `post_coef_x0/xt/xi`  | A_t, B_t, C_t of μ̃_t             | posterior.coef_*            |
| `post_var`            | σ_0² β̃_t                         | posterior.var               |

Arrays are indexed t-1: index 0 is t = 1.  Read them with :func:`extract`, which follows the
input's device and dtype.

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import InputError
from .checks import real_number, steps
from .schedules import ScheduleError, terminal_snr_problem, validate_beta

GAMMAS = ("zero", "balanced")
VARIANCES = ("beta_tilde", "beta")
SIGMA0_RANGE = (1e-100, 1e100)    # σ_0² and the ELBO weights ∝ 1/σ_0² stay finite normal float64 numbers


def _shift(x: torch.Tensor, first: float) -> torch.Tensor:
    return torch.cat([x.new_full((1,), first), x[:-1]])


@dataclass(frozen=True)
class Tables:
    """Float64 coefficient tables (see module docstring).  `method` names what built them."""
    method: str
    sigma0: float
    variance: str
    beta: torch.Tensor
    alpha: torch.Tensor
    alpha_bar: torch.Tensor
    alpha_bar_prev: torch.Tensor
    one_minus_alpha_bar: torch.Tensor
    gamma: torch.Tensor
    c: torch.Tensor
    psi: torch.Tensor
    phi: torch.Tensor
    lam: torch.Tensor
    lam_v: torch.Tensor           # λ_t ᾱ_t = β_t² ᾱ_{t-1}/(2 σ_t² (1-ᾱ_t)): v-prediction weight, finite at α_T = 0
    sigma2: torch.Tensor          # reverse-step variance σ_t²
    mu_eps_coef: torch.Tensor
    post_coef_x0: torch.Tensor
    post_coef_xt: torch.Tensor
    post_coef_xi: torch.Tensor
    post_var: torch.Tensor

    @property
    def T(self) -> int:
        return self.beta.shape[0]

    @property
    def zero_terminal_snr(self) -> bool:
        return bool(self.alpha_bar[-1] == 0)

    def to(self, device) -> "Tables":
        """A copy with every table on `device` (still float64)."""
        kw = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in self.__dict__.items()}
        return Tables(**kw)

    def as_dict(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, torch.Tensor)}


def extract(table: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """table[t-1] for a batch of 1-based steps t, shaped (B, 1, ..., 1) like `like`, in its dtype/device.

    Refuses t outside 1..len(table) (t = 0 would silently read the last entry) and non-integer t.
    """
    if not torch.is_tensor(like):
        raise TypeError(f"like must be a torch.Tensor (its shape, dtype and device are followed), got "
                        f"{type(like).__name__}")
    steps(t, like.shape[0] if like.ndim else 1, table.shape[0])
    vals = table.to(like.device).index_select(0, t.to(like.device) - 1).to(like.dtype)
    return vals.reshape(-1, *([1] * (like.ndim - 1)))


def schedule_arrays(beta) -> tuple[torch.Tensor, ...]:
    """(β, α, ᾱ, ᾱ_{t-1}, 1-ᾱ) in float64; 1-ᾱ_t via expm1 of Σ log1p(-β)."""
    b = validate_beta(beta)
    log_ab = torch.cumsum(torch.log1p(-b), 0)
    ab = torch.exp(log_ab)
    omab = -torch.expm1(log_ab)
    return b, 1 - b, ab, _shift(ab, 1.0), omab


def balanced_gamma(beta) -> torch.Tensor:
    """Balanced γ_t = K β_t/(α_t √ᾱ_{t-1}), K = √ᾱ_T/(1-ᾱ_T) (closed form, result 'balanced').

    Refuses ᾱ_T = 0: there the normalised balanced schedule has no finite γ_T (γ_T → ∞ while
    ψ_t = ϕ_t → 0 for t < T); use γ = 'zero' with v-prediction instead.
    """
    b, a, ab, abp, omab = schedule_arrays(beta)
    problem = terminal_snr_problem(b)
    if problem and b[-1] == 1:
        raise ScheduleError(f"the balanced γ needs ᾱ_T > 0, but {problem}: there γ_T is infinite "
                            "(proved limit: ψ_t = ϕ_t → 0 for t < T, ψ_T → 1); use γ = 'zero' with v-prediction")
    if problem:
        raise ScheduleError(f"the balanced γ needs a normal float64 ᾱ_T > 0, but {problem}")
    K = torch.sqrt(ab[-1]) / omab[-1]
    return K * b / (a * torch.sqrt(abp))


def build_tables(beta, *, gamma=None, sigma0: float = 1.0, variance: str = "beta_tilde",
                 offset_w: float | None = None) -> Tables:
    """Build all tables once in float64.

    gamma: 'zero' (DDPM), 'balanced' (normalised, c_T = 1; the default) or a length-T array of γ_t.
    offset_w: conventional offset noise (ψ_t = ϕ_t = w, not a member of the family; γ = 0 then, and
    c_t = w √(1-ᾱ_t), the ξ-coefficient of E[x_t|x_0,ξ] of its input noise).
    variance: reverse variance σ_t² = σ_0² β̃_t ('beta_tilde', with σ_1² = σ_0² β_1) or σ_0² β_t ('beta').
    """
    b, a, ab, abp, omab = schedule_arrays(beta)
    lo, hi = SIGMA0_RANGE
    sigma0 = real_number(sigma0, "sigma0")
    if not lo <= sigma0 <= hi:
        raise InputError(f"sigma0 must be a number in [{lo:g}, {hi:g}] (so that σ_0² and the ELBO weights are "
                         f"finite in float64), got {sigma0!r}")
    if variance not in VARIANCES:
        raise ValueError(f"variance must be one of {VARIANCES}, got {variance!r}")
    T = b.shape[0]
    if gamma is None and offset_w is None:
        gamma = "balanced"
    if offset_w is not None:
        if gamma not in ("zero", None):
            raise ValueError("offset_w is conventional offset noise; it takes no γ")
        w = real_number(offset_w, "offset_w")
        if w != w or abs(w) == float("inf"):
            raise ValueError(f"offset_w must be finite, got {offset_w!r}")
        g = torch.zeros(T, dtype=torch.float64)
        method = "offset"
    elif isinstance(gamma, str):
        if gamma == "zero":
            g = torch.zeros(T, dtype=torch.float64)
        elif gamma == "balanced":
            g = balanced_gamma(b)
        else:
            raise ValueError(f"gamma must be one of {GAMMAS} or a length-T array, got {gamma!r}")
        method = {"zero": "base", "balanced": "proposed"}[gamma]
    else:
        try:
            g = torch.as_tensor(gamma, dtype=torch.float64).detach().cpu()
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"gamma must be {' or '.join(map(repr, GAMMAS))} or a length-T sequence of real numbers, "
                            f"got {type(gamma).__name__}") from None
        if g.shape != (T,):
            raise ValueError(f"gamma must have shape ({T},) to match β (T = {T}), got {tuple(g.shape)}")
        if not torch.isfinite(g).all():
            raise ValueError("gamma has non-finite entries")
        method = "custom"
    sqrt_a = torch.sqrt(a)
    c = torch.sqrt(ab) * torch.cumsum(g / torch.sqrt(abp), 0)            # forward.c_sum_term
    if method == "proposed":
        K = torch.sqrt(ab[-1]) / omab[-1]
        c = K * omab / torch.sqrt(ab)                                      # balanced.c (closed form)
        psi = K * torch.sqrt(omab) / torch.sqrt(ab)                        # balanced.psi
        phi = psi.clone()
    elif method == "offset":
        psi = torch.full((T,), w, dtype=torch.float64)
        phi = psi.clone()
        c = psi * torch.sqrt(omab)                                         # forward.psi: c_t = ψ_t √(1-ᾱ_t)
    else:
        psi = c / torch.sqrt(omab)                                         # forward.psi
        phi = g * sqrt_a * torch.sqrt(omab) / b                            # elbo.phi
    omab_prev = _shift(omab, 0.0)
    post_var = sigma0**2 * b * omab_prev / omab                           # posterior.var
    sigma2 = sigma0**2 * (b if variance == "beta" else torch.cat([b[:1], (b * omab_prev / omab)[1:]]))
    with torch.no_grad():
        mu_eps = b / (sqrt_a * torch.sqrt(omab))                           # elbo.mu_eps_coef
        lam = b**2 / (2 * sigma2 * a * omab)                               # elbo.lam
        lam_v = b**2 * abp / (2 * sigma2 * omab)                           # elbo.lam × vpred.v_weight⁻¹
    post_coef_xi = (b * _shift(c, 0.0) - a * g * omab_prev) / omab
    for name, v in (("c", c), ("psi", psi), ("phi", phi), ("post_coef_xi", post_coef_xi)) if method == "custom" else ():
        bad = ~torch.isfinite(v) & (abp > 0)           # where ᾱ_{t-1} underflows, the schedule is refused elsewhere
        if bad.any():
            i = int(bad.nonzero()[0])
            raise InputError(f"gamma makes {name}_t non-finite at t = {i + 1} ({v[i].item()}): the γ_t given "
                             f"(largest |γ_t| = {g.abs().max().item():.3g}) overflow float64; scale γ down")
    return Tables(
        method=method, sigma0=float(sigma0), variance=variance, beta=b, alpha=a, alpha_bar=ab,
        alpha_bar_prev=abp, one_minus_alpha_bar=omab, gamma=g, c=c, psi=psi, phi=phi, lam=lam, lam_v=lam_v,
        sigma2=sigma2, mu_eps_coef=mu_eps,
        post_coef_x0=torch.sqrt(abp) * b / omab,
        post_coef_xt=sqrt_a * omab_prev / omab,
        post_coef_xi=post_coef_xi,
        post_var=post_var)
