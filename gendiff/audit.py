"""Offset-noise audit [result 'offset']: is a trainer's (input a_t, target b_t) pair an ELBO loss?

A pair is the ELBO loss (up to λ_t) of the member with γ_t = b_t β_t/(√α_t √(1-ᾱ_t)) iff the
implied target b*_t = [a_t (1-ᾱ_t) - √(α_t(1-ᾱ_t)(1-ᾱ_{t-1})) a_{t-1}] / β_t equals b_t for every t
(b*_1 = a_1).  The mismatch reported is |b_t - b*_t| / max(|b_t|, |b*_t|), computed on a and b divided by
their largest magnitude (the verdict does not depend on a common factor, so no product under- or overflows).
Refused: non-finite or subnormal coefficients, ᾱ_T = 0 or underflowing, rtol outside (0, 1).

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

from dataclasses import dataclass

import sys

import torch

from .checks import real_number
from .errors import InputError
from .schedules import terminal_snr_problem
from .tables import build_tables, schedule_arrays


class AuditInputError(InputError):
    """Unusable audit input (wrong length, NaN/inf, non-positive where positivity is needed)."""


def implied_target(beta, a: torch.Tensor) -> torch.Tensor:
    """b*_t: the target weights that make input weights a_t an ELBO loss (offset.target_implied)."""
    b, al, ab, abp, omab = schedule_arrays(beta)
    omab_prev = torch.cat([omab.new_zeros(1), omab[:-1]])
    a_prev = torch.cat([a.new_zeros(1), a[:-1]])
    return (a * omab - torch.sqrt(al) * torch.sqrt(omab * omab_prev) * a_prev) / b


def implied_gamma(beta, target: torch.Tensor) -> torch.Tensor:
    """γ_t with ϕ_t(γ) = target_t (offset.gamma_implied)."""
    b, al, ab, abp, omab = schedule_arrays(beta)
    return target * b / (torch.sqrt(al) * torch.sqrt(omab))


@dataclass
class AuditResult:
    consistent: bool
    max_rel_mismatch: float
    argmax_t: int
    c_T: float
    normalised: bool
    balanced_up_to_factor: bool
    balanced_factor: float | None
    implied_gamma: torch.Tensor
    implied_phi: torch.Tensor
    mismatch: torch.Tensor
    rtol: float

    def to_json(self) -> dict:
        return {
            "verdict": "consistent" if self.consistent else "inconsistent",
            "max_rel_mismatch": self.max_rel_mismatch, "argmax_t": self.argmax_t, "rtol": self.rtol,
            "c_T": self.c_T, "normalised": self.normalised,
            "balanced_up_to_factor": self.balanced_up_to_factor, "balanced_factor": self.balanced_factor,
            "implied_gamma": self.implied_gamma.tolist(), "implied_phi": self.implied_phi.tolist(),
            "rel_mismatch": self.mismatch.tolist(),
        }


def first_near_max(v: torch.Tensor, rel: float = 1e-6) -> int:
    """0-based index of the first entry within `rel` (relative) of max(v): stable under rounding noise."""
    m = v.max()
    return int((v >= m * (1 - rel)).nonzero()[0])


def _coef(x, T: int, what: str) -> torch.Tensor:
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{what} must be a number or a length-T sequence of numbers, got {type(x).__name__} {x!r}")
    try:
        v = torch.as_tensor(x, dtype=torch.float64).reshape(-1)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{what} must be a number or a length-T sequence of real numbers, got "
                        f"{type(x).__name__}") from None
    if v.numel() == 1:
        v = v.expand(T).clone()
    if v.shape != (T,):
        raise AuditInputError(f"{what} has {v.numel()} entries but the schedule has T = {T}")
    if not torch.isfinite(v).all():
        i = int((~torch.isfinite(v)).nonzero()[0])
        raise AuditInputError(f"{what}[t={i + 1}] is not finite ({v[i].item()})")
    tiny = (v != 0) & (v.abs() < sys.float_info.min)
    if tiny.any():
        i = int(tiny.nonzero()[0])
        raise AuditInputError(f"{what}[t={i + 1}] = {v[i].item():g} is below the smallest normal float64 "
                              f"({sys.float_info.min:.3g}) and has lost its precision: multiply every "
                              "coefficient by one factor (the verdict does not depend on it)")
    return v


def audit(beta, input_coef, target_coef=None, *, rtol: float = 1e-9,
          names: tuple[str, str] = ("input coefficient", "target coefficient")) -> AuditResult:
    """Decide consistency of (a_t, b_t) with the generalized family; see the module docstring.

    `names` label the two coefficients in error messages (the command line passes its option names).
    """
    b = beta if isinstance(beta, torch.Tensor) else torch.as_tensor(beta, dtype=torch.float64)
    _, al, ab, _, omab = schedule_arrays(b)
    problem = terminal_snr_problem(b)
    if problem:
        raise AuditInputError(f"{problem}: the balanced reference and the ε-target weights are undefined there; "
                              "audit a schedule with ᾱ_T > 0")
    T = b.shape[0]
    a = _coef(input_coef, T, names[0])
    tgt = a.clone() if target_coef is None else _coef(target_coef, T, names[1])
    rtol = real_number(rtol, "rtol")
    if not 0 < rtol < 1:
        raise AuditInputError(f"rtol must lie in (0, 1) (the relative mismatch is at most 2), got {rtol}")
    scale = float(torch.maximum(a.abs().max(), tgt.abs().max())) or 1.0
    star_n, tgt_n = implied_target(b, a / scale), tgt / scale
    star = star_n * scale
    gamma_star = implied_gamma(b, star)
    if not (torch.isfinite(star).all() and torch.isfinite(gamma_star).all()):
        raise AuditInputError(f"the ELBO target or γ implied by the input coefficient overflows float64 (largest "
                              f"|coefficient| {scale:g}): multiply every coefficient by one smaller factor")
    denom = torch.maximum(star_n.abs(), tgt_n.abs())
    mis = torch.where(denom > 0, (tgt_n - star_n).abs() / denom.clamp_min(1e-300), torch.zeros_like(denom))
    k = first_near_max(mis)
    bal = build_tables(b, gamma="balanced").psi
    ratio_a, ratio_b = a / bal, tgt / bal
    f = float(ratio_a.mean())
    balanced = bool(f != 0 and ((ratio_a - f).abs() <= rtol * abs(f)).all()
                    and ((ratio_b - f).abs() <= rtol * abs(f)).all())
    c_T = float(a[-1] * torch.sqrt(omab[-1]))
    return AuditResult(
        consistent=bool(mis.max() <= rtol), max_rel_mismatch=float(mis.max()), argmax_t=k + 1,
        c_T=c_T, normalised=abs(c_T - 1) <= 1e-9, balanced_up_to_factor=balanced,
        balanced_factor=f if balanced else None, implied_gamma=gamma_star,
        implied_phi=star, mismatch=mis, rtol=rtol)


def format_table(res: AuditResult, a: torch.Tensor, tgt: torch.Tensor, rows: int = 12) -> str:
    T = a.shape[0]
    idx = sorted(set([0, 1, 2, T // 4, T // 2, 3 * T // 4, T - 2, T - 1, res.argmax_t - 1]) & set(range(T)))
    lines = [f"{'t':>6} {'input a_t':>12} {'target b_t':>12} {'ELBO b*_t':>12} {'implied γ_t':>12} {'rel.mismatch':>12}"]
    for i in idx[:rows]:
        lines.append(f"{i + 1:>6} {a[i].item():>12.6g} {tgt[i].item():>12.6g} {res.implied_phi[i].item():>12.6g} "
                     f"{res.implied_gamma[i].item():>12.6g} {res.mismatch[i].item():>12.3g}")
    return "\n".join(lines)
