"""The training methods, as (tables, q(ξ) for training, q(ξ) for the sampler, prediction, start).

| method             | input ξ-weight | target ξ-weight | pred | x_T at sampling                                   |
|--------------------|----------------|-----------------|------|---------------------------------------------------|
| `base`             | 0              | 0               | eps  | N(0, σ_0² I)                                      |
| `offset`           | w              | w               | eps  | N(0, σ_0² I)                                      |
| `proposed`         | ψ_t (balanced) | ϕ_t = ψ_t       | eps  | N(ξ, σ_0² I), ξ ~ q(ξ)                            |
| `zero-snr`         | 0              | 0               | v    | N(0, σ_0² I) on the rescaled schedule (ᾱ_T = 0)   |
| `base-signal-leak` | 0              | 0               | eps  | :class:`gendiff.starts.SignalLeak` (fitted)       |

`zero-snr` is `base` on :func:`gendiff.schedules.rescale_zero_terminal_snr` of any schedule (Lin et al. 2024),
with v-prediction, since ε-prediction cannot recover x_0 at ᾱ_T = 0.  `base-signal-leak` is `base` with the
training-free signal-leak start (Everaert et al. 2024) that removes base's start mismatch of the brightness
coordinate [result 'start_mismatch': leak_var, "leak for base ... KL = 0 for every n"].

Specs (:func:`method_from_spec`): `base`, `offset-w<W>`, `proposed-sc<S>`, `zero-snr`, `base-signal-leak`.

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import InputError
from .schedules import rescale_zero_terminal_snr
from .tables import Tables, build_tables
from .xi import Brightness, Dirac, PerChannel, XiFamily

METHODS = ("base", "offset", "proposed", "zero-snr", "base-signal-leak")
SPECS = "base, offset-w<W>, proposed-sc<S>, zero-snr, base-signal-leak"
_NUMBER = r"([0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)"


@dataclass(frozen=True)
class Method:
    """`start` is 'prior' (x_T ~ N(ξ, σ_0² I), ξ ~ xi_start) or an object with `draw(shape, tables, xi_family, *,
    generator, device, dtype)` such as :class:`gendiff.starts.SignalLeak`; `pred` is what the network predicts."""
    name: str
    tables: Tables
    xi_train: XiFamily
    xi_start: XiFamily
    pred: str = "eps"
    start: object = "prior"


def make_method(name: str, beta, *, sigma0: float = 1.0, w: float = 0.1, sigma_c: float = 1.0,
                xi: XiFamily | None = None, variance: str = "beta_tilde", leak=None) -> Method:
    """Build a method; `xi` overrides the brightness family (offset: its ξ, proposed: q(ξ)).

    `leak`: the fitted :class:`gendiff.starts.SignalLeak` that `base-signal-leak` starts from (required there).
    """
    if name == "base":
        return Method(name, build_tables(beta, gamma="zero", sigma0=sigma0, variance=variance), Dirac(), Dirac())
    if name == "offset":
        fam = xi or Brightness(sigma_c=1.0)
        return Method(name, build_tables(beta, gamma=None, offset_w=w, sigma0=sigma0, variance=variance), fam, Dirac())
    if name == "proposed":
        fam = xi or Brightness(sigma_c=sigma_c)
        return Method(name, build_tables(beta, gamma="balanced", sigma0=sigma0, variance=variance), fam, fam)
    if name == "zero-snr":
        tb = build_tables(rescale_zero_terminal_snr(beta), gamma="zero", sigma0=sigma0, variance=variance)
        return Method(name, tb, Dirac(), Dirac(), pred="v")
    if name == "base-signal-leak":
        if leak is None or not callable(getattr(leak, "draw", None)):
            raise InputError(f"base-signal-leak needs leak=SignalLeak.fit(training data) (an object with draw()), "
                             f"got {leak!r}")
        base = make_method("base", beta, sigma0=sigma0, variance=variance)
        return Method(name, base.tables, base.xi_train, base.xi_start, start=leak)
    raise InputError(f"unknown method {name!r}; choose from {METHODS}")


def parse_spec(spec: str) -> tuple[str, dict]:
    """'offset-w0.1' -> ('offset', {'w': 0.1}); 'proposed-sc2' -> ('proposed', {'sigma_c': 2.0}); others bare."""
    if not isinstance(spec, str):
        raise InputError(f"method must be a string ({SPECS}), got {spec!r}")
    if spec in ("base", "zero-snr", "base-signal-leak"):
        return spec, {}
    for prefix, name, key in (("offset-w", "offset", "w"), ("proposed-sc", "proposed", "sigma_c")):
        m = re.fullmatch(re.escape(prefix) + _NUMBER, spec)
        if m:
            v = float(m.group(1))
            if not math.isfinite(v) or (key == "sigma_c" and v <= 0):
                raise InputError(f"method {spec!r}: {key} must be a finite number{' > 0' if key == 'sigma_c' else ''}")
            return name, {key: v}
    raise InputError(f"unknown method {spec!r}; use {SPECS}")


def method_from_spec(spec: str, beta, *, sigma0: float = 1.0, variance: str = "beta_tilde", image: bool = False,
                     leak=None) -> Method:
    """The method a spec names (see the module docstring); image=True uses per-channel ξ for (B, C, H, W)."""
    name, kw = parse_spec(spec)
    if image and name == "offset":
        kw["xi"] = PerChannel(sigma_c=1.0)
    if image and name == "proposed":
        kw["xi"] = PerChannel(sigma_c=kw.pop("sigma_c"))
    m = make_method(name, beta, sigma0=sigma0, variance=variance, leak=leak, **kw)
    return Method(spec, m.tables, m.xi_train, m.xi_start, m.pred, m.start)
