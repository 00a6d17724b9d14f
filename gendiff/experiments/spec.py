"""Experiment specifications: the data, schedule, model, methods, samplers, metrics and profiles of each data set.

An experiment is a `Spec`: vector data at dimension n (`cylinder`, `gaussian`: an MLP per (method, n, seed),
metrics W1 in R^n, MMD², W1(L_avg)) or images at one resolution (`digits`: a UNet per (method, seed), the
near-extreme fractions and digit-likeness besides); the `schedule` (linear, scaled_linear, cosine or a file,
`gendiff.schedules.make_beta`) under every method; and `Profile`s that set the budget, the dimensions and the
seeds.  `runner` runs any spec's jobs; `results` writes its folder, tables and figures chosen by the kind of data.

Methods: the specs of core `gendiff.methods.method_from_spec` (`base`, `offset-w<W>`, `proposed-sc<S>`, `zero-snr`;
ξ per channel for images).  Samplers: names of `sampling.parse`.

Layer: experiments — imports gendiff core and other experiments modules; never gendiff.cli.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError
from ..methods import Method, method_from_spec, parse_spec
from ..schedules import make_beta
from .sampling import parse


@dataclass(frozen=True)
class Profile:
    seeds: int
    steps: int
    batch: int
    T: int
    n_gen: int
    n_test: int
    methods: tuple
    dims: tuple = ()
    n_train: int = 0
    samplers: tuple = ()          # besides ancestral-T (when `ancestral`), for every method but the sweeps
    stock: tuple = ()             # stock-ddim-<k>, for the proposed methods only
    ancestral: bool = True        # every job also runs ancestral-T
    sweep_methods: tuple = ()     # extra settings of a sweep, run with `sweep_seeds` seeds and `sweep_samplers`
    sweep_seeds: int = 1
    sweep_samplers: tuple = ()
    oracle_methods: tuple = ()
    oracle_seeds: int = 1
    oracle_train: int = 1000
    ch: int = 0                   # UNet width (images)
    size: int = 8                 # image side (images: digits upsampled to size × size, n = size²)
    schedule: str | None = None   # the profile's own β schedule (None: the spec's)


@dataclass(frozen=True)
class Spec:
    name: str
    kind: str                     # "vector" (dimension n) or "image" (one resolution)
    model: str                    # "MLP" or "UNet"
    profiles: dict
    schedule: str = "linear"
    threads: int | None = None    # torch intra-op threads while jobs run (None: leave alone)

    def run_dir(self, root, cfg: str, n: int, seed: int):
        return root / cfg / f"n{n}" / f"s{seed}" if self.kind == "vector" else root / cfg / f"s{seed}"


def build_method(cfg: str, T: int, *, image: bool = False, schedule: str = "linear", leak=None) -> Method:
    """'base', 'offset-w<W>', 'proposed-sc<σ_c>', 'zero-snr', 'base-signal-leak' (with `leak`, the fitted
    :class:`gendiff.starts.SignalLeak`) of core :func:`gendiff.methods.method_from_spec`; ξ per (image, channel)
    for images."""
    return method_from_spec(cfg, make_beta(schedule, T), image=image, leak=leak)


def own_schedule(spec: "Spec", prof: Profile) -> str:
    """The schedule a profile runs on unless --schedule says otherwise."""
    return prof.schedule or spec.schedule


def samplers_for(prof: Profile, cfg: str) -> list[str]:
    """The samplers a job runs: ancestral-T (vector profiles), the profile's samplers (the sweep samplers for
    sweeps), stock DDIM for proposed methods only."""
    base = cfg[7:] if cfg.startswith("oracle-") else cfg
    names = [f"ancestral-{prof.T}"] if prof.ancestral else []
    names += list(prof.sweep_samplers) if cfg in prof.sweep_methods else list(prof.samplers) + list(prof.stock)
    return [s for s in dict.fromkeys(names) if not s.startswith("stock-") or base.startswith("proposed")]


def plan_jobs(prof: Profile, dims, methods, seeds) -> list[tuple[str, int, int]]:
    """(method, n, seed) for every job: the profile's methods, sweeps and oracles, or exactly `methods`."""
    cfgs = list(methods or (prof.methods + prof.sweep_methods + prof.oracle_methods))

    def n_seeds(c):
        if methods:
            return seeds
        return prof.oracle_seeds if c.startswith("oracle-") else prof.sweep_seeds if c in prof.sweep_methods else seeds
    return [(c, n, s) for n in dims for c in cfgs for s in range(n_seeds(c))]


def check_request(spec: Spec, profile: str, dims, methods, seeds, shard, schedule=None) -> None:
    """Raise InputError for anything a run would fail on later (before any work starts)."""
    from ..schedules import NAMES
    if schedule is not None and schedule not in NAMES:
        raise InputError(f"schedule (--schedule) {schedule!r} is not a schedule name: use one of {', '.join(NAMES)}")
    if profile not in spec.profiles:
        raise InputError(f"profile {profile!r} does not exist for {spec.name}: use one of {', '.join(spec.profiles)}")
    if dims and spec.kind == "image":
        raise InputError(f"--dims does not apply to {spec.name} (8×8 images, n = 64)")
    if dims is not None and (not dims or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in dims)):
        raise InputError(f"dimensions must be a non-empty list of integers >= 1, got {dims!r}")
    if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1):
        raise InputError(f"seeds must be an integer >= 1, got {seeds!r}")
    if methods is not None and (not methods or len(set(methods)) != len(methods)):
        raise InputError(f"methods must be a non-empty list without repeats, got {methods!r}")
    prof = spec.profiles[profile]
    for m in methods or ():
        oracle = m.startswith("oracle-") and spec.kind == "vector"
        try:
            parse_spec(m[7:] if oracle else m)
        except ValueError as e:
            raise InputError(f"methods (--methods): {m!r} is an unknown method ({e}); use base, offset-w<W>, "
                             "proposed-sc<σ_c>, zero-snr, base-signal-leak"
                             + (" or oracle-<one of these>" if spec.kind == "vector" else "")) from None
    for cfg in methods or prof.methods + prof.sweep_methods:
        for s in samplers_for(prof, cfg):
            try:
                parse(s, prof.T)
            except ValueError as e:
                raise InputError(str(e)) from None
    i, k = shard
    if not 0 <= i < k:
        raise InputError(f"shard must be i/k with 0 <= i < k, got {i}/{k}")


def default_out(dataset: str, profile: str, schedule: str | None = None) -> str:
    """reports/experiments/<dataset>[-<profile>][-<schedule>] (no profile suffix for full; none for the
    profile's own schedule)."""
    spec = SPECS[dataset]
    own = own_schedule(spec, spec.profiles[profile]) if profile in spec.profiles else spec.schedule
    return (f"reports/experiments/{dataset}" + ("" if profile == "full" else f"-{profile}")
            + (f"-{schedule}" if schedule and schedule != own else ""))


SAMPLER_AXIS = dict(samplers=("ddim-10", "ddim-20", "ddim-50", "ddim-100"), stock=("stock-ddim-50",))
MAIN = ("base", "offset-w0.1", "proposed-sc1", "zero-snr")
VECTOR_PROFILES = {
    "smoke": Profile(dims=(2, 4), seeds=1, steps=40, batch=64, n_train=256, n_test=128, n_gen=128, T=50,
                     methods=MAIN, oracle_methods=("oracle-proposed-sc1",), oracle_train=128, samplers=("ddim-10",),
                     stock=("stock-ddim-10",)),
    "quick": Profile(dims=(2, 8, 32), seeds=1, steps=1000, batch=256, n_train=4000, n_test=2000, n_gen=2000, T=1000,
                     methods=MAIN, oracle_methods=("oracle-proposed-sc1",), oracle_train=1000, **SAMPLER_AXIS),
    "full": Profile(dims=(2, 8, 32, 128, 256), seeds=3, steps=3000, batch=256, n_train=10000, n_test=2000,
                    n_gen=2000, T=1000, methods=MAIN,
                    sweep_methods=("offset-w0.3", "offset-w0.5", "offset-w1", "proposed-sc0.5", "proposed-sc2"),
                    oracle_methods=("oracle-base", "oracle-offset-w0.1", "oracle-proposed-sc1"), **SAMPLER_AXIS),
    # The sampler axis at the full profile's training budget: smallest, middle and largest n, main methods.
    "samplers": Profile(dims=(2, 32, 256), seeds=3, steps=3000, batch=256, n_train=10000, n_test=2000, n_gen=2000,
                        T=1000, methods=MAIN, oracle_methods=("oracle-proposed-sc1",), **SAMPLER_AXIS),
    # Does the comparison at the largest n depend on the training budget?  base vs proposed, 10 000 steps.
    "long": Profile(dims=(256,), seeds=3, steps=10000, batch=256, n_train=10000, n_test=2000, n_gen=2000, T=1000,
                    methods=("base", "proposed-sc1"), **SAMPLER_AXIS),
}
IMAGE_PROFILES = {
    "smoke": Profile(dims=(64,), seeds=2, steps=10, batch=32, T=20, n_gen=64, n_test=64, ch=4, methods=MAIN,
                     samplers=("ancestral-20", "ddim-5", "stock-ddim-5"), ancestral=False),
    "quick": Profile(dims=(64,), seeds=2, steps=300, batch=128, T=1000, n_gen=1000, n_test=1000, ch=8,
                     methods=("base", "proposed-sc1"), samplers=("ddim-50", "stock-ddim-50"), ancestral=False),
    # 12 runs × (1000 steps + 1000 images × 1100 network calls) + 6 sweep runs without the ancestral chain
    "full": Profile(dims=(64,), seeds=3, steps=1000, batch=128, T=1000, n_gen=1000, n_test=1000, ch=8, methods=MAIN,
                    samplers=("ancestral-1000", "ddim-50", "stock-ddim-50"), ancestral=False,
                    sweep_methods=("offset-w0.3", "proposed-sc0.5"), sweep_seeds=3,
                    sweep_samplers=("ddim-50", "stock-ddim-50")),
    # The regime of issue 'start mismatch' in images: digits upsampled to 16×16 (n = 256 per channel) on SD's
    # scaled_linear, where base's start ratio is 1 + r - ᾱ_T ≈ 1.45 (r = n ᾱ_T Var L_avg ≈ 0.46 with the training
    # images' Var L_avg = 0.384); 12 runs.
    "brightness16": Profile(dims=(256,), size=16, schedule="scaled_linear", seeds=3, steps=1000, batch=128, T=1000,
                            n_gen=1000, n_test=1000, ch=8, methods=("base", "base-signal-leak", "proposed-sc1",
                                                                     "zero-snr"),
                            samplers=("ddim-50", "dpm2m-20"), ancestral=False),
}
# The UNet is too small to gain from several threads; on a busy machine their spin-waits cost up to 20× (measured).
SPECS = {"cylinder": Spec("cylinder", "vector", "MLP", VECTOR_PROFILES),
         "gaussian": Spec("gaussian", "vector", "MLP", VECTOR_PROFILES),
         "digits": Spec("digits", "image", "UNet", IMAGE_PROFILES, threads=1)}
