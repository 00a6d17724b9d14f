"""Argument checks at the library's edge: one rule per kind of argument, shared by every core function.

| argument kind            | accepted                                                  | refused (exception)                    |
|--------------------------|-----------------------------------------------------------|----------------------------------------|
| a number (σ_0, σ_c, w …) | int, float, numpy scalars, 0-d real torch tensors          | bool, complex, str, arrays (TypeError) |
| an integer (T)           | int, numpy integer scalars, 0-d integer torch tensors      | bool, float, str (TypeError)           |
| a data tensor (x_0, ε, ξ) | a floating-point torch.Tensor                             | numpy arrays, lists (TypeError: convert with torch.from_numpy); integer, boolean or complex tensors (TypeError: a truncated √ᾱ_t would be silently wrong) |
| steps t                  | an int32/int64 torch.Tensor of shape (B,), B = the batch  | any other dtype (TypeError), shape (1,), () or (B, 1) (ValueError; no broadcasting) |
| ξ in gendiff.diffusion   | a data tensor, or None meaning ξ = 0                      | as for data tensors                    |

Sequences of per-step coefficients (β, γ, audit coefficients) are not data tensors: any real array-like
(list, numpy array, tensor) is accepted there, converted to float64.

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import numbers

import numpy as np
import torch



def _describe(v) -> str:
    if torch.is_tensor(v):
        return f"a {v.dtype} tensor of shape {tuple(v.shape)}"
    if isinstance(v, np.ndarray):
        return f"a numpy array of dtype {v.dtype} and shape {v.shape}"
    text = repr(v)
    return f"{type(v).__name__} {text[:60] + '…' if len(text) > 60 else text}"


def real_number(v, name: str) -> float:
    """v as a Python float if it is a real number (numpy and 0-d torch scalars included); else TypeError."""
    if torch.is_tensor(v) and v.ndim == 0 and not v.dtype.is_complex and v.dtype != torch.bool:
        return float(v.item())
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number (int, float, a numpy scalar or a 0-d tensor), "
                        f"got {_describe(v)}")
    return float(v)


def integer(v, name: str) -> int:
    """v as a Python int if it is an integer (numpy and 0-d integer torch scalars included); else TypeError."""
    if torch.is_tensor(v) and v.ndim == 0 and not v.dtype.is_floating_point and not v.dtype.is_complex \
            and v.dtype != torch.bool:
        return int(v.item())
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_describe(v)}")
    return int(v)


def data_tensor(v, name: str, *, optional: bool = False):
    """A floating-point torch tensor (None allowed when `optional`); see the module docstring."""
    if v is None and optional:
        return None
    if not torch.is_tensor(v):
        hint = ": convert it with torch.from_numpy" if isinstance(v, np.ndarray) else ""
        raise TypeError(f"{name} must be a torch.Tensor{' or None' if optional else ''}, got {_describe(v)}{hint}")
    if not v.dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating-point tensor (float16/32/64, bfloat16), got {v.dtype}: "
                        "coefficients such as √ᾱ_t would be truncated; cast it with .float()")
    return v


def steps(t, batch: int, T: int, name: str = "t"):
    """Check 1-based steps t: an int32/int64 tensor of shape (batch,) with values in 1..T."""
    if not torch.is_tensor(t) or t.dtype not in (torch.int32, torch.int64):
        got = _describe(t)
        raise TypeError(f"{name} must be an integer (int32 or int64) torch tensor of 1-based steps, got {got}")
    if t.shape != (batch,):
        raise ValueError(f"{name} must have shape ({batch},), one step per sample of the batch, got shape "
                         f"{tuple(t.shape)} (no broadcasting: use {name}.expand({batch}) for one step for all)")
    if t.numel():
        lo, hi = torch.aminmax(t)
        if int(lo) < 1 or int(hi) > T:
            raise ValueError(f"{name} must lie in 1..T = {T}, got range {int(lo)}..{int(hi)}")
    return t


def same_shape(ref, ref_name: str, **others) -> None:
    """Every non-None tensor in `others` has the shape of `ref` (no broadcasting)."""
    for k, o in others.items():
        if o is not None and o.shape != ref.shape:
            raise ValueError(f"shape mismatch: {k} has shape {tuple(o.shape)}, {ref_name} {tuple(ref.shape)}")

