"""Experiment `digits`: near-black and near-white images with a convolutional UNet [2412.03134 §5, issue 12].

`gendiff experiment digits --profile smoke|quick|full` trains the same compact UNet (`unet.UNet`, v-prediction,
Adam 1e-3, clip 1, linear schedule) once per (method, seed) on `digits-brightness` (`images`), keeps its weights,
and samples with every sampler of the profile.  Everything lives in runs/digits/<profile>/<method>/s<seed>/:
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
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .. import samplers as S
from ..errors import InputError
from ..io import write_text_atomic
from ..methods import Method, make_method
from ..schedules import make_beta, rescale_zero_terminal_snr
from ..xi import PerChannel
from .classifier import digit_scores
from .images import extreme_fraction, make_images
from .metrics import brightness, mmd, w1_brightness
from .runfiles import RunFileError, command, resolve_device, why, write_timings
from .sampling import parse
from .train import save_state, train
from .models import build_seeded
from .unet import UNet, n_params

DATASET = "digits-brightness"
PRED = "v"
HIST_EDGES = torch.linspace(-1.0, 1.0, 41, dtype=torch.float64)
GRID = 100                       # images kept per sampler for the figures: every (n_gen/GRID)-th by brightness


@dataclass(frozen=True)
class Profile:
    seeds: int
    steps: int
    batch: int
    T: int
    n_gen: int
    ch: int
    methods: tuple               # run with `seeds` seeds
    samplers: tuple
    sweep_methods: tuple = ()    # run with `sweep_seeds` seeds and the `sweep_samplers`
    sweep_seeds: int = 1
    sweep_samplers: tuple = ()
    n_test: int = 1000


PROFILES = {
    "smoke": Profile(seeds=2, steps=10, batch=32, T=20, n_gen=64, n_test=64, ch=4,
                     methods=("base", "offset-w0.1", "proposed-sc1", "zero-snr"),
                     samplers=("ancestral-20", "ddim-5", "stock-ddim-5")),
    "quick": Profile(seeds=2, steps=300, batch=128, T=1000, n_gen=1000, ch=8,
                     methods=("base", "proposed-sc1"), samplers=("ddim-50", "stock-ddim-50")),
    # 12 runs × (1000 steps + 1000 images × 1100 network calls) + 6 sweep runs without the ancestral chain
    "full": Profile(seeds=3, steps=1000, batch=128, T=1000, n_gen=1000, ch=8,
                    methods=("base", "offset-w0.1", "proposed-sc1", "zero-snr"),
                    samplers=("ancestral-1000", "ddim-50", "stock-ddim-50"),
                    sweep_methods=("offset-w0.3", "proposed-sc0.5"), sweep_seeds=3,
                    sweep_samplers=("ddim-50", "stock-ddim-50")),
}
CHUNK = 250                      # images per sampler call (faster on CPU than one batch of 1000)


def build_method(cfg: str, T: int) -> Method:
    """'base', 'offset-w<W>', 'proposed-sc<σ_c>', 'zero-snr' with per-channel ξ for (B, C, H, W) images."""
    beta = make_beta("linear", T)
    try:
        if cfg == "base":
            return make_method("base", beta)
        if cfg.startswith("offset-w"):
            return make_method("offset", beta, w=float(cfg[8:]), xi=PerChannel(sigma_c=1.0))
        if cfg.startswith("proposed-sc"):
            return make_method("proposed", beta, xi=PerChannel(sigma_c=float(cfg[11:])))
    except ValueError as e:
        raise InputError(f"bad method {cfg!r}: {e}") from None
    if cfg == "zero-snr":
        m = make_method("base", rescale_zero_terminal_snr(beta))
        return Method("zero-snr", m.tables, m.xi_train, m.xi_start)
    raise InputError(f"unknown method {cfg!r}; use base, offset-w<W>, proposed-sc<S> or zero-snr")


def sampler_applies(sampler: str, cfg: str) -> bool:
    return not sampler.startswith("stock-") or cfg.startswith("proposed-")


def check_sampler(name: str, T: int) -> None:
    """InputError unless `name` is ancestral-<T>, ddim-<k> or stock-ddim-<k> with 1 <= k <= T (`sampling.parse`)."""
    try:
        parse(name, T)
    except ValueError as e:
        raise InputError(str(e)) from None


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


def _load_or_train(cfg, seed, prof, d: Path, device, progress):
    method = build_method(cfg, prof.T)
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


def run_one(cfg: str, seed: int, prof: Profile, root: Path, device, *, samplers=None, progress=True) -> list[dict]:
    """Train (or load) one model and score it with every applicable sampler; one record per sampler."""
    d = root / cfg / f"s{seed}"
    todo = [s for s in (samplers or prof.samplers) if sampler_applies(s, cfg)]
    if all((d / f"{s}.json").exists() for s in todo):
        return [_read(d / f"{s}.json") for s in todo]
    d.mkdir(parents=True, exist_ok=True)
    model, method = _load_or_train(cfg, seed, prof, d, device, progress)
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
        rec = {"dataset": DATASET, "method": cfg, "seed": seed, "sampler": s, "pred": PRED, **score(x, ref),
               "n_generated": len(x), "n_test": len(ref), "steps": prof.steps, "batch": prof.batch, "T": prof.T,
               "params": train_info["params"], "train_seconds": train_info["train_seconds"],
               "train_cpu_seconds": train_info["train_cpu_seconds"], "sample_seconds": round(t_wall, 1),
               "sample_cpu_seconds": round(t_cpu, 1),
               "hist_gen": torch.histogram(L, bins=HIST_EDGES).hist.tolist(),
               "grid": [[round(v, 3) for v in im.flatten().tolist()] for im in keep]}
        write_text_atomic(f, json.dumps(rec, sort_keys=True) + "\n")
        out.append(rec)
    return out


def jobs(prof: Profile, methods=None, seeds=None, samplers=None) -> list[tuple[str, int, tuple]]:
    """(method, seed, samplers): the profile's (main methods, then the sweep) or the given methods."""
    if methods:
        return [(c, s, tuple(samplers or prof.samplers)) for c in methods for s in range(seeds or prof.seeds)]
    return ([(c, s, tuple(samplers or prof.samplers)) for c in prof.methods for s in range(seeds or prof.seeds)]
            + [(c, s, tuple(samplers or prof.sweep_samplers or prof.samplers)) for c in prof.sweep_methods
               for s in range(seeds or prof.sweep_seeds)])


def check_request(profile: str, dims=None, methods=None, seeds=None, samplers=None, shard=(0, 1)) -> None:
    """Raise InputError for anything run_experiment would fail on later (before any work starts)."""
    if profile not in PROFILES:
        raise InputError(f"profile {profile!r} does not exist for digits: use one of {', '.join(PROFILES)}")
    if dims:
        raise InputError("--dims does not apply to digits (8×8 images, n = 64)")
    if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1):
        raise InputError(f"seeds must be an integer >= 1, got {seeds!r}")
    if methods is not None and (not methods or len(set(methods)) != len(methods)):
        raise InputError(f"methods must be a non-empty list without repeats, got {methods!r}")
    prof = PROFILES[profile]
    for m in methods or ():
        try:
            build_method(m, prof.T)
        except ValueError as e:
            raise InputError(f"methods: {e}") from None
    for s in samplers or prof.samplers + prof.sweep_samplers:
        check_sampler(s, prof.T)
    i, k = shard
    if not 0 <= i < k:
        raise InputError(f"shard must be i/k with 0 <= i < k, got {i}/{k}")


def default_out(profile: str) -> str:
    return "reports/experiments/digits" + ("" if profile == "full" else f"-{profile}")


def run_experiment(profile: str = "quick", *, methods=None, seeds=None, samplers=None, out=None, runs_dir="runs",
                   device=None, progress=True, shard: tuple[int, int] = (0, 1), threads: int | None = 1) -> Path | None:
    """Run (or resume) every job of a profile; with shard=(i, k) only jobs i, i+k, ... and no aggregation.

    `threads`: torch's intra-op CPU threads while the jobs run (restored afterwards; None leaves it alone).
    The UNet is too small to gain from several threads, and on a busy machine their spin-waits cost up to 20×
    (measured); run parallel workers with `shard` instead.
    """
    check_request(profile, None, methods, seeds, samplers, shard)
    prof = PROFILES[profile]
    device = resolve_device(device)
    root = Path(runs_dir) / "digits" / profile
    records = []
    t0, c0 = time.perf_counter(), time.process_time()
    i, k = shard
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        for c, s, smp in tqdm(jobs(prof, methods, seeds, samplers)[i::k], desc=f"digits {profile} runs",
                              disable=not progress):
            records += run_one(c, s, prof, root, device, samplers=smp, progress=progress)
    finally:
        torch.set_num_threads(before)
    if k > 1:
        return None
    from .digits_results import write_outputs
    out = Path(out or default_out(profile))
    trained = {(r["method"], r["seed"]): r["train_seconds"] for r in records}
    write_timings(out, command("digits", profile, None, methods, seeds), time.perf_counter() - t0,
                  time.process_time() - c0, sum(trained.values()) + sum(r["sample_seconds"] for r in records),
                  len(trained))
    write_outputs(out, records, profile=profile, prof=prof, device=str(device))
    return out
