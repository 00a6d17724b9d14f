"""Proof machinery shared by every derivation module.

A derivation produces a :class:`Result`: named statements (SymPy expressions), the assumptions
under which they hold, and proof :class:`Step` s.  A step is an identity ``lhs == rhs`` that is
*proved* when ``simplify(lhs - rhs)`` is exactly zero -- no floating-point evaluation is involved.
"""
from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Callable

import sympy as sp

Perturb = dict[str, Callable[[sp.Expr], sp.Expr]]

# A perturbed derivation (negative control) only has to be rejected: stop at its first failed step.
_fail_fast: ContextVar[bool] = ContextVar("fail_fast", default=False)


class DerivationError(ValueError):
    """Raised on input the engine cannot derive from (bad symbols, bad horizon)."""


def require_positive(*symbols: sp.Symbol) -> None:
    """Refuse symbols that are not declared positive where a derivation assumes positivity."""
    for s in symbols:
        if not isinstance(s, sp.Symbol):
            raise DerivationError(f"expected a SymPy Symbol, got {type(s).__name__}: {s!r}")
        if s.is_positive is not True:
            raise DerivationError(
                f"symbol {s} must be declared positive (Symbol({str(s)!r}, positive=True)): "
                "the derivation takes square roots and divides by it")


def require_horizon(T: int, *, most: int = 12) -> int:
    """Validate an unrolling horizon T (1 <= T <= most)."""
    if isinstance(T, bool) or not isinstance(T, int):
        raise DerivationError(f"T must be an int, got {type(T).__name__}")
    if T < 1:
        raise DerivationError(f"T must be >= 1 (number of diffusion steps), got {T}")
    if T > most:
        raise DerivationError(f"T = {T} is too large to unroll symbolically (at most {most})")
    return T


def is_zero(expr: sp.Expr) -> bool:
    """Exact test: does ``expr`` simplify to 0?  (Sound: never True for a non-zero expression.)"""
    expr = sp.sympify(expr)
    if expr == 0:
        return True
    for attempt in (lambda e: sp.simplify(sp.together(sp.expand(e))),
                    lambda e: sp.simplify(sp.radsimp(sp.factor(sp.together(e)))),
                    lambda e: sp.simplify(sp.expand_power_base(sp.powsimp(e, force=True), force=True))):
        if attempt(expr) == 0:
            return True
    return False


@dataclass
class Step:
    """One proof step: the identity ``lhs = rhs``."""
    name: str
    lhs: sp.Expr
    rhs: sp.Expr
    proved: bool | None = None

    def check(self) -> bool:
        lhs, rhs = sp.sympify(self.lhs), sp.sympify(self.rhs)
        if lhs.is_infinite or rhs.is_infinite:     # limits: compare the extended reals exactly
            self.proved = bool(lhs == rhs)
        else:
            self.proved = is_zero(lhs - rhs)
        return self.proved

    def latex(self) -> str:
        return f"{sp.latex(self.lhs)} = {sp.latex(self.rhs)}"


@dataclass
class Result:
    """A derived and proved group of results.  ``statements`` are what code generation consumes."""
    key: str
    title: str
    assumptions: list[str]
    statements: dict[str, sp.Expr]
    steps: list[Step]
    reading: str
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def proved(self) -> bool:
        return bool(self.steps) and all(s.proved for s in self.steps)

    def failed_steps(self) -> list[str]:
        return [s.name for s in self.steps if not s.proved]

    def summary(self) -> dict:
        return {
            "key": self.key, "title": self.title, "proved": self.proved,
            "steps": len(self.steps), "failed": self.failed_steps(),
            "seconds": round(self.seconds, 3),
            "statements": {k: str(v) for k, v in self.statements.items()},
            "notes": list(self.notes),
        }


def apply_perturb(statements: dict[str, sp.Expr], perturb: Perturb | None) -> dict[str, sp.Expr]:
    """Return statements with deliberate perturbations applied (negative controls)."""
    _fail_fast.set(bool(perturb))
    if not perturb:
        return dict(statements)
    unknown = set(perturb) - set(statements)
    if unknown:
        raise DerivationError(f"cannot perturb unknown statements {sorted(unknown)}; "
                              f"known: {sorted(statements)}")
    out = dict(statements)
    for k, f in perturb.items():
        out[k] = f(out[k])
    return out


def run_steps(key: str, title: str, assumptions: list[str], statements: dict, steps: list[Step],
              reading: str, t0: float, notes: list[str] | None = None) -> Result:
    fail_fast = _fail_fast.get()
    _fail_fast.set(False)
    for s in steps:
        if not s.check() and fail_fast:
            break
    return Result(key, title, assumptions, statements, steps, reading, notes or [],
                  time.perf_counter() - t0)
