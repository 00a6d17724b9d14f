"""Per-step coefficient export for other trainers (`gendiff coefficients`).

JSON: an object of equal-length arrays keyed by the ASCII names of CONVENTIONS.md, index 0 = t = 1.
CSV: a header line of the same names, one row per step.  NPY: a structured array with one field per name.
Every value is a finite float64 (strict JSON: never NaN or Infinity); a table that would hold an infinite
value is refused with the column and step that caused it (e.g. λ_T at β_T = 1, where α_T = 0).

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import torch

from .errors import InputError
from .schedules import make_beta
from .tables import build_tables

COLUMNS = ("t", "beta", "alpha", "alpha_bar", "gamma", "c", "psi", "phi", "lam",
           "post_coef_x0", "post_coef_xt", "post_coef_xi", "post_var")
# Also available by name: the remaining tables (lam_v = λ_t ᾱ_t is the v-prediction weight, finite at ᾱ_T = 0).
EXTRA = ("alpha_bar_prev", "one_minus_alpha_bar", "lam_v", "sigma2", "mu_eps_coef")
FORMATS = ("csv", "json", "npy")


def coefficient_table(schedule="linear", T=1000, gamma=None, sigma0=1.0, variance="beta_tilde",
                      offset_w=None, columns=None) -> dict[str, np.ndarray]:
    """{name: array of length T} for `columns` (default COLUMNS); `schedule` as in make_beta, or a β tensor.

    gamma: 'balanced' (default) or 'zero'; offset_w: conventional offset noise (excludes gamma).
    """
    if offset_w is not None and gamma is not None:
        raise InputError(f"gamma={gamma!r} and offset_w={offset_w!r} exclude each other: offset noise takes no γ")
    cols = tuple(columns) if columns is not None else COLUMNS
    unknown = [c for c in cols if c not in COLUMNS + EXTRA]
    if unknown or not cols or len(set(cols)) != len(cols):
        raise InputError(f"columns must be distinct names from {', '.join(COLUMNS + EXTRA)}; got {', '.join(cols)}")
    beta = schedule if isinstance(schedule, torch.Tensor) else make_beta(schedule, T)
    tb = build_tables(beta, gamma=gamma, sigma0=sigma0, variance=variance, offset_w=offset_w)
    d = {k: v.numpy() for k, v in tb.as_dict().items()}
    d["t"] = np.arange(1, tb.T + 1)
    out = {k: d[k] for k in cols}
    for k, v in out.items():
        bad = ~np.isfinite(v)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            why = (" (α_T = 0 at β_T = 1: the ε-prediction ELBO weight is infinite; lam_v, the v-prediction "
                   "weight, stays finite)" if k in ("lam", "mu_eps_coef") and tb.alpha[i] == 0 else "")
            raise InputError(f"column {k} is {v[i]} at t = {i + 1}{why}; gendiff exports only finite numbers: "
                             "leave the column out or change the schedule or σ_0")
    return out


def render(table: dict[str, np.ndarray], fmt: str) -> bytes:
    if fmt == "json":
        return (json.dumps({k: v.tolist() for k, v in table.items()}, allow_nan=False) + "\n").encode()
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(table.keys())
        for row in zip(*table.values()):
            w.writerow([repr(int(x)) if k == "t" else repr(float(x)) for k, x in zip(table, row)])
        return buf.getvalue().encode()
    if fmt == "npy":
        n = len(next(iter(table.values())))
        arr = np.zeros(n, dtype=[(k, "i8" if k == "t" else "f8") for k in table])
        for k, v in table.items():
            arr[k] = v
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        return buf.getvalue()
    raise InputError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
