"""Symbolic derivations of the generalized diffusion model with adjusted offset noise.

Each module derives one group of results from the model's definitions and proves them with SymPy
(identities that simplify to 0, induction steps, explicit unrolling for small T).
"""
from . import (balanced, brightness, ddim, ddim_ode, dpm_solver, elbo, forward, jump_variance, offset, posterior,
               start_mismatch, vpred, xi_posterior)

#: derivation modules in dependency order (key -> module)
MODULES = {
    "forward": forward, "posterior": posterior, "elbo": elbo, "balanced": balanced,
    "offset": offset, "vpred": vpred, "xi_posterior": xi_posterior, "ddim": ddim, "ddim_ode": ddim_ode,
    "brightness": brightness, "start_mismatch": start_mismatch, "jump_variance": jump_variance,
    "dpm_solver": dpm_solver,
}


def derive_all(progress=None):
    """Run every derivation; returns a list of Results."""
    out = []
    for key, mod in MODULES.items():
        out.append(mod.derive())
        if progress:
            progress(out[-1])
    return out
