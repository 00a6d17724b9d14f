"""The image job of the experiment engine: near-black and near-white images with a UNet [2412.03134 §5].

`gendiff experiment digits --profile smoke|quick|full` (`runner.run_experiment`, spec `spec.SPECS['digits']`)
trains the same compact UNet (`unet.UNet`, v-prediction, Adam 1e-3, clip 1, linear schedule unless
`--schedule`) once per (method, seed) on `digits-brightness` (`images`), keeps its weights, and samples with
every sampler of the profile.  Everything lives in runs/digits/<profile>/<method>/s<seed>/:
`ckpt.pt` (resumable training), `model.pt` + `train.json` (finished training), `<sampler>.json` (one per
sampler; a sampler added later reuses the stored weights).  Finished pieces are skipped on a re-run.

| method           | ξ in training (per channel: one z per image and channel)       | x_T at sampling |
|------------------|-----------------------------------------------------------------|-----------------|
| `base`           | none (DDPM)                                                     | N(0, I)         |
| `offset-w<W>`    | practitioners' offset noise: input and target ε + W·z, z ~ N(0, 1) | N(0, I)      |
| `proposed-sc<S>` | balanced γ, q(ξ) = `PerChannel(sigma_c=S)`                      | N(ξ, I)         |
| `zero-snr`       | none, schedule rescaled to ᾱ_T = 0 (Lin et al. 2024)            | N(0, I)         |

Samplers (names of CONVENTIONS.md): `ancestral-<T>`, `ddim-<k>` (ξ̂ = E[ξ | x_t]), `stock-ddim-<k>` (ξ̂ = 0,
run on proposed models only: for the others ξ̂ = 0 already).  Generated images are clipped to [−1, 1], as an
image pipeline does, before they are scored.

Layer: experiments — imports gendiff core and other experiments modules; never gendiff.cli.
"""
from __future__ import annotations

import json
import time
import zlib
from pathlib import Path

import torch

from .. import samplers as S
from ..io import write_text_atomic
from ..methods import Method
from .classifier import digit_scores
from .images import extreme_fraction, make_images
from .metrics import brightness, mmd, w1_brightness
from .runfiles import RunFileError, why, write_job_timing
from .sampling import parse
from .spec import IMAGE_PROFILES, samplers_for
from .spec import build_method as spec_build
from .train import save_state, train
from .models import build_seeded
from .unet import UNet, n_params

DATASET = "digits-brightness"
PRED = "v"
HIST_EDGES = torch.linspace(-1.0, 1.0, 41, dtype=torch.float64)
GRID = 100                       # images kept per sampler for the figures: every (n_gen/GRID)-th by brightness


PROFILES = IMAGE_PROFILES
CHUNK = 250                      # images per sampler call (faster on CPU than one batch of 1000)


def build_method(cfg: str, T: int, schedule: str = "linear") -> Method:
    """'base', 'offset-w<W>', 'proposed-sc<σ_c>', 'zero-snr' with per-channel ξ for (B, C, H, W) images."""
    return spec_build(cfg, T, image=True, schedule=schedule)


def sample(name: str, model, shape, method: Method, *, generator, device, progress=False) -> torch.Tensor:
    """Run sampler `name` (see module docstring) in chunks of `CHUNK` images, one generator throughout;
    returns float64 images on the CPU."""
    kind, k = parse(name, method.tables.T)
    kw = dict(pred=PRED, generator=generator, device=device, dtype=torch.float32, progress=progress)
    out = []
    for i in range(0, shape[0], CHUNK):
        part = (min(CHUNK, shape[0] - i),) + tuple(shape[1:])
        with torch.no_grad():
            if kind == "ancestral":
                x = S.ancestral(model, part, method.tables, method.xi_start, **kw)
            else:
                x = S.ddim(model, part, method.tables, method.xi_start, steps=k, stock_update=kind == "stock-ddim",
                           **kw)
        out.append(x.double().cpu())
    return torch.cat(out)


def _read(path: Path) -> dict:
    try:
        res = json.loads(path.read_text())
        if not isinstance(res, dict):
            raise ValueError("not a JSON object")
        return res
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise RunFileError(f"corrupt run file {str(path)!r} ({why(e)}): delete it to redo this piece") from None


def _seed(*parts) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def _load_or_train(cfg, seed, prof, d: Path, device, progress, schedule="linear"):
    method = build_method(cfg, prof.T, schedule)
    model = build_seeded(lambda: UNet(1, ch=prof.ch), seed, device)
    if (d / "model.pt").exists():
        try:
            model.load_state_dict(torch.load(d / "model.pt", map_location=device, weights_only=True))
        except Exception as e:      # truncated or foreign file
            raise RunFileError(f"corrupt weights {str(d / 'model.pt')!r} ({why(e)}): delete it to retrain") from None
        return model.eval(), method
    t0, c0 = time.perf_counter(), time.process_time()
    data, _ = make_images("train")
    hist = train(model, method, data, steps=prof.steps, batch=prof.batch, pred=PRED, seed=seed, ckpt=d / "ckpt.pt",
                 device=device, progress=progress, desc=f"digits {cfg} s={seed}")
    save_state(d / "model.pt", model.state_dict())
    info = {"loss_curve": hist["loss"], "params": n_params(model), "train_seconds": round(time.perf_counter() - t0, 1),
            "train_cpu_seconds": round(time.process_time() - c0, 1), "threads": torch.get_num_threads()}
    write_text_atomic(d / "train.json", json.dumps(info, sort_keys=True) + "\n")
    (d / "ckpt.pt").unlink(missing_ok=True)
    return model.eval(), method


def score(x: torch.Tensor, ref: torch.Tensor) -> dict:
    """Every metric of one generated set x against held-out images ref (both (B, 1, 8, 8) float64)."""
    m2, bw = mmd(x.flatten(1), ref.flatten(1))
    out = {"w1_brightness": w1_brightness(x, ref), "mmd": m2, "mmd_bandwidth": bw, **extreme_fraction(x),
           **digit_scores(x)}
    out["frac_error"] = abs(out["frac_extreme"] - extreme_fraction(ref)["frac_extreme"])
    return out


def run_one(dataset: str, cfg: str, n: int, seed: int, prof, root: Path, device, *, progress=True,
            schedule: str = "linear") -> list[dict]:
    """Train (or load) one model and score it with every sampler of `spec.samplers_for`; one record per sampler."""
    d = root / cfg / f"s{seed}"
    todo = samplers_for(prof, cfg)
    if all((d / f"{s}.json").exists() for s in todo):
        return [_read(d / f"{s}.json") for s in todo]
    d.mkdir(parents=True, exist_ok=True)
    model, method = _load_or_train(cfg, seed, prof, d, device, progress, schedule)
    ref = make_images("test")[0][: prof.n_test]
    train_info = _read(d / "train.json")
    out = []
    for s in todo:
        f = d / f"{s}.json"
        if f.exists():
            out.append(_read(f))
            continue
        gen = torch.Generator(device=device).manual_seed(_seed(cfg, seed, s))
        t0, c0 = time.perf_counter(), time.process_time()
        x = sample(s, model, (prof.n_gen, 1, 8, 8), method, generator=gen, device=device, progress=progress)
        t_wall, t_cpu = time.perf_counter() - t0, time.process_time() - c0
        if not torch.isfinite(x).all():
            raise FloatingPointError(f"digits {cfg} seed={seed} {s}: sampler produced non-finite values")
        x = x.clamp(-1.0, 1.0)
        L = brightness(x)
        keep = x[L.argsort()][:: max(1, len(x) // GRID)][:GRID]
        rec = {"dataset": DATASET, "method": cfg, "seed": seed, "sampler": s, "pred": PRED, "schedule": schedule,
               **score(x, ref),
               "n_generated": len(x), "n_test": len(ref), "steps": prof.steps, "batch": prof.batch, "T": prof.T,
               "params": train_info["params"], "train_seconds": train_info["train_seconds"],
               "train_cpu_seconds": train_info["train_cpu_seconds"], "sample_seconds": round(t_wall, 1),
               "sample_cpu_seconds": round(t_cpu, 1),
               "hist_gen": torch.histogram(L, bins=HIST_EDGES).hist.tolist(),
               "grid": [[round(v, 3) for v in im.flatten().tolist()] for im in keep]}
        write_text_atomic(f, json.dumps(rec, sort_keys=True) + "\n")
        out.append(rec)
    write_job_timing(d / "timing.json", train_info["train_seconds"], {r["sampler"]: r["sample_seconds"] for r in out})
    return out
