"""Per-step coefficient export for other trainers (`gendiff coefficients`).

JSON: an object of equal-length arrays keyed by the ASCII names of CONVENTIONS.md, index 0 = t = 1.

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import csv
import io
import json

import numpy as np

from .schedules import make_beta
from .tables import build_tables

COLUMNS = ("t", "beta", "alpha", "alpha_bar", "gamma", "c", "psi", "phi", "lam",
           "post_coef_x0", "post_coef_xt", "post_coef_xi", "post_var")


def coefficient_table(schedule="linear", T=1000, gamma="balanced", sigma0=1.0, variance="beta_tilde",
                      offset_w=None) -> dict[str, np.ndarray]:
    tb = build_tables(make_beta(schedule, T), gamma=None if offset_w is not None else gamma,
                      sigma0=sigma0, variance=variance, offset_w=offset_w)
    d = {k: v.numpy() for k, v in tb.as_dict().items()}
    out = {"t": np.arange(1, tb.T + 1)}
    out.update({k: d[k] for k in COLUMNS[1:]})
    return out


def render(table: dict[str, np.ndarray], fmt: str) -> bytes:
    if fmt == "json":
        return (json.dumps({k: v.tolist() for k, v in table.items()}) + "\n").encode()
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(table.keys())
        for row in zip(*table.values()):
            w.writerow([repr(int(x)) if i == 0 else repr(float(x)) for i, x in enumerate(row)])
        return buf.getvalue().encode()
    if fmt == "npy":
        arr = np.zeros(len(table["t"]), dtype=[(k, "i8" if k == "t" else "f8") for k in table])
        for k, v in table.items():
            arr[k] = v
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        return buf.getvalue()
    raise ValueError(f"format must be csv, json or npy, got {fmt!r}")
