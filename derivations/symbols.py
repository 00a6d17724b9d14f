"""Symbols shared by the derivations.

| code name   | paper symbol        | SymPy symbol      |
|-------------|---------------------|-------------------|
| alpha       | α_t                 | ``alpha``         |
| abar_prev   | ᾱ_{t-1}             | ``abar_prev``     |
| abar        | ᾱ_t = α_t ᾱ_{t-1}   | ``ABAR`` (expr)   |
| beta        | β_t = 1 - α_t       | ``BETA`` (expr)   |
| gamma       | γ_t                 | ``gamma``         |
| c_prev      | c_{t-1}             | ``c_prev``        |
| sigma0      | σ_0                 | ``sigma0``        |
| x0, xt, xi  | x_0, x_t, ξ         | real symbols      |
| eps         | ε ~ N(0, 1)         | real symbol       |

All statements are per component: the model is isotropic, so a vector statement is the same
statement applied to every component (ξ enters each component through its own value).
"""
import sympy as sp

alpha = sp.Symbol(r"alpha_t", positive=True)
abar_prev = sp.Symbol(r"\bar{\alpha}_{t-1}", positive=True)
gamma = sp.Symbol(r"gamma_t", positive=True)
c_prev = sp.Symbol(r"c_{t-1}", real=True)
sigma0 = sp.Symbol(r"sigma_0", positive=True)
x0, xt, xprev, xi, eps = sp.symbols(r"x_0 x_t x_{t-1} xi epsilon", real=True)
eps_theta = sp.Symbol(r"epsilon_theta", real=True)
sigma_t2 = sp.Symbol(r"sigma_t^2", positive=True)   # reverse-step variance σ_t²
abar_T = sp.Symbol(r"\bar{\alpha}_T", positive=True)
K = sp.Symbol("K", positive=True)
n = sp.Symbol("n", positive=True, integer=True)
sigma_c = sp.Symbol("sigma_c", positive=True)

BETA = 1 - alpha
ABAR = alpha * abar_prev


def indexed(name: str, T: int, **assumptions) -> list[sp.Symbol]:
    """Symbols name_1..name_T (fully symbolic per-step quantities for unrolled checks)."""
    return list(sp.symbols(f"{name}_1:{T + 1}", **assumptions))


def log_normal(x, mean, var):
    """log N(x; mean, var) for a scalar component."""
    return -(x - mean) ** 2 / (2 * var) - sp.log(2 * sp.pi * var) / 2
