"""Training with checkpoints: Adam (lr 1e-3), gradient clipping at max-norm 1 [2412.03134 §5].

A run is resumable: `train` saves model, optimiser, step, loss history and RNG state atomically
every `ckpt_every` steps and at the end; calling it again continues from the last checkpoint.  A checkpoint
that cannot be loaded raises RunFileError naming the file.

Layer: experiments — imports gendiff core and other experiments modules; never gendiff.cli.
"""
from __future__ import annotations

import io
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..io import write_bytes_atomic
from ..losses import training_loss
from ..methods import Method
from .runfiles import RunFileError, why


def save_state(path: Path, state: dict) -> None:
    """torch.save `state` to `path` atomically (a reader never sees half a file)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    write_bytes_atomic(path, buf.getvalue())


def train(model, method: Method, data: torch.Tensor, *, steps: int, batch: int, pred: str = "v", lr: float = 1e-3,
          seed: int = 0, ckpt: Path | None = None, ckpt_every: int = 500, val: torch.Tensor | None = None,
          log_every: int = 50, device=None, progress: bool = True, desc: str = "train") -> dict:
    """Train `model` on rows of `data` (float32 on `device`); returns {'loss': [...], 'val': [...]}."""
    device = device or next(model.parameters()).device
    tables = method.tables.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator(device=device).manual_seed(seed)
    gcpu = torch.Generator().manual_seed(seed + 1)
    hist = {"loss": [], "val": []}
    start = 0
    if ckpt is not None and Path(ckpt).exists():
        try:
            st = torch.load(ckpt, map_location=device, weights_only=False)
            model.load_state_dict(st["model"])
            opt.load_state_dict(st["opt"])
            g.set_state(st["rng"].to(g.get_state().device) if hasattr(st["rng"], "to") else st["rng"])
            gcpu.set_state(st["rng_cpu"])
            hist, start = st["hist"], int(st["step"])
        except Exception as e:      # truncated, foreign or mismatched file: say which, and how to recover
            raise RunFileError(f"corrupt checkpoint {str(ckpt)!r} ({why(e)}): delete it to "
                               "restart this run from step 0") from None
    data = data.to(device=device, dtype=torch.float32)
    vg = torch.Generator(device=device)

    def checkpoint(step):
        if ckpt is not None:
            save_state(Path(ckpt), {"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "hist": hist,
                               "rng": g.get_state(), "rng_cpu": gcpu.get_state()})

    bar = tqdm(range(start, steps), desc=desc, leave=False, disable=not progress, initial=start, total=steps)
    running = 0.0
    for step in bar:
        idx = torch.randint(0, data.shape[0], (batch,), generator=gcpu).to(device)
        loss = training_loss(model, data[idx], tables, method.xi_train, pred=pred, generator=g)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        running += loss.item()
        if (step + 1) % log_every == 0:
            hist["loss"].append((step + 1, running / log_every))
            running = 0.0
            bar.set_postfix(loss=f"{hist['loss'][-1][1]:.4f}")
        if val is not None and (step + 1) % (log_every * 10) == 0:
            with torch.no_grad():
                vg.manual_seed(1234)
                v = training_loss(model, val.to(device=device, dtype=torch.float32), tables, method.xi_train,
                                  pred=pred, generator=vg)
            hist["val"].append((step + 1, float(v)))
        if (step + 1) % ckpt_every == 0 or step + 1 == steps:
            checkpoint(step + 1)
    return hist
