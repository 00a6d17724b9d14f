"""What the experiment job does for images: near-black and near-white images with a UNet [2412.03134 §5].

`gendiff experiment digits --profile smoke|quick|full` (`runner.run_experiment`, spec `spec.SPECS['digits']`;
the one job `runner.run_one` with `ImageJob` below) trains the same compact UNet (`unet.UNet`, v-prediction,
Adam 1e-3, clip 1, linear schedule unless `--schedule`) once per (method, seed) on `digits-brightness` (`images`), keeps its weights, and samples with
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

from ..io import write_text_atomic
from ..methods import Method
from .classifier import digit_scores
from .images import extreme_fraction, make_images
from .metrics import brightness, mmd, w1_brightness
from .runfiles import read_result
from .sampling import draw
from .spec import IMAGE_PROFILES, samplers_for
from .spec import build_method as spec_build
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
    """Run sampler `name` (`sampling.draw`) in chunks of `CHUNK` images, one generator throughout; returns
    float64 images on the CPU."""
    return draw(name, model, method, shape, pred=PRED, generator=generator, device=device, dtype=torch.float32,
                chunk=CHUNK, progress=progress).double().cpu()


def _read(path: Path) -> dict:
    return read_result(path, keys=(), what="this piece")


def _seed(*parts) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def score(x: torch.Tensor, ref: torch.Tensor) -> dict:
    """Every metric of one generated set x against held-out images ref (both (B, 1, H, W) float64)."""
    m2, bw = mmd(x.flatten(1), ref.flatten(1))
    out = {"w1_brightness": w1_brightness(x, ref), "mmd": m2, "mmd_bandwidth": bw, **extreme_fraction(x),
           **digit_scores(x)}
    out["frac_error"] = abs(out["frac_extreme"] - extreme_fraction(ref)["frac_extreme"])
    return out


class ImageJob:
    """What the job of `runner.run_one` does differently for images: a UNet of width `Profile.ch`, the
    `images.make_images` splits, one <sampler>.json per sampler and train.json beside the weights."""
    image = True

    @staticmethod
    def factory(n, prof):
        return lambda: UNet(1, ch=prof.ch)

    @staticmethod
    def data(dataset, n, prof, split):
        x = make_images(split, size=prof.size)[0]
        return x[: prof.n_test] if split == "test" else x

    @staticmethod
    def stored(d: Path, wanted):
        return None, {s: _read(d / f"{s}.json") for s in wanted if (d / f"{s}.json").exists()}

    @staticmethod
    def finished(d, previous, have, wanted):
        return [have[s] for s in wanted]

    @staticmethod
    def trained(d, model, hist, t0, c0):
        info = {"loss_curve": hist["loss"], "params": n_params(model),
                "train_seconds": round(time.perf_counter() - t0, 1),
                "train_cpu_seconds": round(time.process_time() - c0, 1), "threads": torch.get_num_threads()}
        write_text_atomic(d / "train.json", json.dumps(info, sort_keys=True) + "\n")

    @staticmethod
    def score(names, model, method, ref, *, prof, cfg, n, seed, pred, device, dtype, progress):
        """{sampler: scores, brightness histogram, the GRID images kept, sample seconds}; samples clipped first."""
        out = {}
        for s in names:
            gen = torch.Generator(device=device).manual_seed(_seed(cfg, seed, s))
            t0, c0 = time.perf_counter(), time.process_time()
            x = sample(s, model, (prof.n_gen, 1, prof.size, prof.size), method, generator=gen, device=device, progress=progress)
            t_wall, t_cpu = time.perf_counter() - t0, time.process_time() - c0
            if not torch.isfinite(x).all():
                raise FloatingPointError(f"digits {cfg} seed={seed} {s}: sampler produced non-finite values")
            x = x.clamp(-1.0, 1.0)
            L = brightness(x)
            keep = x[L.argsort()][:: max(1, len(x) // GRID)][:GRID]
            out[s] = {**score(x, ref), "sample_seconds": round(t_wall, 1), "sample_cpu_seconds": round(t_cpu, 1),
                      "hist_gen": torch.histogram(L, bins=HIST_EDGES).hist.tolist(),
                      "grid": [[round(v, 3) for v in im.flatten().tolist()] for im in keep]}
        return out

    @staticmethod
    def store(d, job, previous, have, hist, ref, seconds):
        """Write <sampler>.json for every sampler scored now; returns the records of every sampler, in order."""
        dataset, cfg, n, seed, prof, pred, schedule, device = job
        info = _read(d / "train.json")
        for s in seconds:
            have[s] = {"dataset": DATASET, "method": cfg, "seed": seed, "sampler": s, "pred": PRED,
                       "schedule": schedule, **have[s], "sample_seconds": seconds[s], "n_generated": prof.n_gen,
                       "n_test": len(ref), "steps": prof.steps, "batch": prof.batch, "T": prof.T,
                       **{k: info[k] for k in ("params", "train_seconds", "train_cpu_seconds")}}
            write_text_atomic(d / f"{s}.json", json.dumps(have[s], sort_keys=True) + "\n")
        return [have[s] for s in samplers_for(prof, cfg)]
