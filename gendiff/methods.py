"""The three training methods, as (tables, q(ξ) for training, q(ξ) for the sampler's start).

| method     | input ξ-weight | target ξ-weight | x_T at sampling   |
|------------|----------------|-----------------|-------------------|
| `base`     | 0              | 0               | N(0, σ_0² I)      |
| `offset`   | w              | w               | N(0, σ_0² I)      |
| `proposed` | ψ_t (balanced) | ϕ_t = ψ_t       | N(ξ, σ_0² I), ξ ~ q(ξ) |

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

from dataclasses import dataclass

from .tables import Tables, build_tables
from .xi import Brightness, Dirac, XiFamily

METHODS = ("base", "offset", "proposed")


@dataclass(frozen=True)
class Method:
    name: str
    tables: Tables
    xi_train: XiFamily
    xi_start: XiFamily


def make_method(name: str, beta, *, sigma0: float = 1.0, w: float = 0.1, sigma_c: float = 1.0,
                xi: XiFamily | None = None, variance: str = "beta_tilde") -> Method:
    """Build a method; `xi` overrides the brightness family (offset: its ξ, proposed: q(ξ))."""
    if name == "base":
        return Method(name, build_tables(beta, gamma="zero", sigma0=sigma0, variance=variance), Dirac(), Dirac())
    if name == "offset":
        fam = xi or Brightness(sigma_c=1.0)
        return Method(name, build_tables(beta, gamma=None, offset_w=w, sigma0=sigma0, variance=variance), fam, Dirac())
    if name == "proposed":
        fam = xi or Brightness(sigma_c=sigma_c)
        return Method(name, build_tables(beta, gamma="balanced", sigma0=sigma0, variance=variance), fam, fam)
    raise ValueError(f"unknown method {name!r}; choose from {METHODS}")
