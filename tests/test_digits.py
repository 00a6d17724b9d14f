"""`digits-brightness` data, the digit-likeness score, the compact UNet and the `digits` smoke experiment."""
import json

import pytest
import torch

from gendiff.cli import main
from gendiff.experiments import digits as D
from gendiff.experiments import runner, sampling
from gendiff.experiments.runner import run_experiment
from gendiff.experiments.spec import samplers_for
from gendiff.experiments.classifier import digit_scores
from gendiff.experiments.images import digits, extreme_fraction, make_images, shift
from gendiff.experiments.unet import UNet
from gendiff.xi import Dirac, PerChannel


def test_dataset_definition_splits_and_extreme_fraction():
    (tr, ltr), (te, lte) = digits("train"), digits("test")
    assert tr.shape == (1297, 1, 8, 8) and te.shape == (500, 1, 8, 8) and len(ltr) == 1297
    assert tr.min() >= -1 and tr.max() <= 1
    x, lab = make_images("test")
    assert x.shape == (1000, 1, 8, 8) and torch.equal(lab, lte.repeat(2))
    assert torch.equal(x, make_images("test")[0])                        # fixed seed
    assert x.min() >= -1 and x.max() <= 1
    for split in ("train", "test"):                                      # the requirement: >= 20 %
        assert extreme_fraction(make_images(split)[0])["frac_extreme"] >= 0.2
    u = torch.linspace(-0.2, 0.2, 7, dtype=torch.float64)                # no clipping: L_avg(x) = u exactly
    y = shift(te[:7], u, contrast=0.3)
    assert torch.allclose(y.flatten(1).mean(1), u, atol=1e-12)
    with pytest.raises(ValueError, match="split"):
        digits("val")


def test_digit_score_ignores_brightness_and_rejects_blank_images():
    d, lab = digits("test")
    s = digit_scores(d, lab)
    assert s["digit_acc"] > 0.9 and s["digit_conf"] > 0.8
    shifted = digit_scores(shift(d, torch.full((500,), 0.1, dtype=torch.float64), contrast=0.5), lab)
    assert shifted["digit_conf"] == pytest.approx(s["digit_conf"], abs=1e-5)   # mean and scale removed
    blank = digit_scores(torch.full((10, 1, 8, 8), 0.9))
    assert blank["digit_conf"] == pytest.approx(0.1) and blank["digit_is"] == pytest.approx(1.0)


def test_unet_shapes_and_time_dependence():
    net = UNet(1, ch=4)
    x, t = torch.randn(3, 1, 8, 8), torch.tensor([1, 500, 1000])
    torch.nn.init.normal_(net.up0.c2.weight)                              # zero-initialised by design
    out = net(x, t)
    assert out.shape == x.shape
    assert not torch.allclose(out, net(x, t.flip(0)))
    with pytest.raises(ValueError, match="even"):
        net(torch.randn(2, 1, 7, 8), t[:2])


def test_methods_and_samplers_are_checked():
    assert isinstance(D.build_method("offset-w0.1", 10).xi_train, PerChannel)
    assert isinstance(D.build_method("offset-w0.1", 10).xi_start, Dirac)
    m = D.build_method("proposed-sc0.5", 10)
    assert m.xi_start.sigma_c == 0.5 and m.tables.method
    assert D.build_method("zero-snr", 10).tables.zero_terminal_snr
    for bad in ("proposed-sc-1", "offset-wx", "ddpm"):
        with pytest.raises(ValueError):
            D.build_method(bad, 10)
    for bad in ("ancestral-50", "ddim-0", "ddim-11", "euler-5"):
        with pytest.raises(ValueError, match="sampler"):
            sampling.parse(bad, 10)
    prof = D.PROFILES["smoke"]
    assert samplers_for(prof, "proposed-sc1") == ["ancestral-20", "ddim-5", "stock-ddim-5"]
    assert samplers_for(prof, "base") == ["ancestral-20", "ddim-5"]            # stock DDIM only on proposed models
    full = D.PROFILES["full"]
    assert samplers_for(full, "offset-w0.3") == ["ddim-50"] and samplers_for(full, "proposed-sc0.5")[-1] == \
        "stock-ddim-50"                                                        # the sweeps' samplers


def test_smoke_experiment_resumes_and_is_byte_stable(tmp_path):
    kw = dict(methods=["base", "proposed-sc1"], runs_dir=tmp_path / "runs", progress=False)
    out = run_experiment("digits", "smoke", out=tmp_path / "a", **kw)
    res = json.loads((out / "results.json").read_text())
    assert res["data"]["frac_extreme"] > 0 and res["settings"]["samplers"] == list(D.PROFILES["smoke"].samplers)
    samplers = {r["sampler"] for r in res["records"] if r["method"] == "base"}
    assert samplers == {"ancestral-20", "ddim-5"}                         # stock-ddim only on proposed models
    md = (out / "results.md").read_text()
    assert "reproduce the data's fraction" in md and "Welch" in md and "| ddim-5 | proposed-sc1 | base |" in md
    for f in ("brightness_hist.png", "samples_base.png", "samples_proposed-sc1.png"):
        assert (out / "figures" / f).stat().st_size > 5000
    run = tmp_path / "runs" / "digits" / "smoke" / "proposed-sc1" / "s1"
    weights = (run / "model.pt").stat().st_mtime_ns
    (run / "ddim-5.json").unlink()                                        # a sampler added later: no retraining
    out2 = run_experiment("digits", "smoke", out=tmp_path / "b", **kw)
    assert (run / "model.pt").stat().st_mtime_ns == weights
    assert (out2 / "results.json").read_bytes() == (out / "results.json").read_bytes()
    for f in ("figure_data.json", "figures/brightness_hist.png", "figures/samples_proposed-sc1.png"):
        assert (out2 / f).read_bytes() == (out / f).read_bytes(), f

    def timeless(p):                                  # results.md states the measured times of its own call
        return [ln for ln in p.read_text().splitlines() if not ln.startswith("Command: ")]
    assert timeless(out2 / "results.md") == timeless(out / "results.md")
    assert "Command: `gendiff experiment digits --profile smoke --methods base,proposed-sc1`; measured wall time" \
        in (out / "results.md").read_text()


@pytest.mark.parametrize("argv,msg", [
    (["experiment", "digits", "--methods", "ddpm"], "unknown method"),
    (["experiment", "digits", "--profile", "long"], "profile"),
    (["experiment", "digits", "--dims", "8"], "--dims"),
    (["experiment", "digits", "--methods", "offset-wx"], "offset-wx"),
])
def test_cli_rejects_bad_input(argv, msg, capsys, tmp_path):
    assert main(argv + ["--runs-dir", str(tmp_path / "r"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert msg in err and len(err.strip().splitlines()) == 1


def _solid(values):
    """Images (B, 1, 8, 8) of constant grey levels `values`."""
    return torch.tensor(values, dtype=torch.float64)[:, None, None, None].expand(-1, 1, 8, 8).clone()


def test_scores_of_sets_with_known_answers():
    """Each metric on all-black, all-white and a known mixture (3 black, 5 white, 12 grey, 4 at ±0.8 exactly)."""
    import math

    from gendiff.experiments.metrics import mmd, w1_brightness
    black, white = _solid([-1.0] * 20), _solid([1.0] * 20)
    assert extreme_fraction(black) == {"frac_black": 1.0, "frac_white": 0.0, "frac_extreme": 1.0}
    assert extreme_fraction(white) == {"frac_black": 0.0, "frac_white": 1.0, "frac_extreme": 1.0}
    mix = _solid([-1.0] * 3 + [0.95] * 5 + [0.0] * 12 + [0.8, -0.8, 0.79, -0.79])
    f = extreme_fraction(mix)                                     # L_avg = ±0.8 is not beyond the threshold
    assert f["frac_black"] == pytest.approx(3 / 24, abs=1e-15) and f["frac_white"] == pytest.approx(5 / 24, abs=1e-15)
    assert f["frac_extreme"] == pytest.approx(8 / 24, abs=1e-15)
    assert w1_brightness(black, white) == pytest.approx(2.0, abs=1e-12)
    assert w1_brightness(black, mix) == pytest.approx(float((mix.flatten(1).mean(1) + 1).mean()), abs=1e-12)
    m2, h = mmd(black, white)                                     # median pooled distance: the cross distance 16
    assert h == pytest.approx(16.0) and m2 == pytest.approx(2 - 2 * math.exp(-0.5), abs=1e-12)
    for x in (black, white):                                      # a solid image is no digit (p = 1/10 each)
        s = digit_scores(x)
        assert s["digit_conf"] == pytest.approx(0.1) and s["digit_is"] == pytest.approx(1.0)
    s = D.score(black, mix)
    assert s["frac_black"] == 1.0 and s["frac_white"] == 0.0
    assert s["frac_error"] == pytest.approx(1 - 8 / 24, abs=1e-12)       # |generated − held-out|, not |x − x|
    assert D.score(white, black)["frac_error"] == 0.0 and D.score(mix, black)["frac_error"] == pytest.approx(2 / 3)


def test_generated_images_are_clipped_before_scoring(tmp_path, monkeypatch):
    """run_one clips samples to [−1, 1] (as an image pipeline does) before every metric and the stored grid."""
    raw = torch.empty(64, 1, 8, 8, dtype=torch.float64)
    raw[:, :, :4], raw[:, :, 4:] = 3.0, -1.2          # unclipped L_avg = 0.9 (near-white); clipped: 0
    prof = D.PROFILES["smoke"]
    d = tmp_path / "base" / "s0"
    d.mkdir(parents=True)
    (d / "train.json").write_text(json.dumps({"params": 1, "train_seconds": 0.0, "train_cpu_seconds": 0.0}))
    monkeypatch.setattr(runner, "_model", lambda *a, **k: (None, torch.float32, {"loss": [], "val": []}, False))
    monkeypatch.setattr(D, "sample", lambda name, model, shape, *a, **k: raw[: shape[0]].clone())
    recs = runner.run_one("digits", "base", 64, 0, prof, tmp_path, torch.device("cpu"), progress=False)
    r = next(r for r in recs if r["sampler"] == "ddim-5")
    assert r["frac_white"] == 0.0 and r["frac_extreme"] == 0.0
    assert max(max(im) for im in r["grid"]) <= 1.0 and min(min(im) for im in r["grid"]) >= -1.0
    assert sum(r["hist_gen"]) == 64 and r["hist_gen"][20] == 64                # every L_avg in the bin [0, 0.05)


def test_image_job_resumes_on_stored_weights_like_the_vector_job(tmp_path, monkeypatch):
    """The one job (`runner.run_one`) on images: a sampler added later runs on the stored weights (no training,
    stored samplers not re-sampled); stored samplers without model.pt are refused; an interrupted fresh job
    leaves no folder behind."""
    import dataclasses

    from gendiff.experiments.runfiles import RunFileError
    prof = dataclasses.replace(D.PROFILES["smoke"], steps=4, n_gen=16, samplers=("ddim-5",))
    root = tmp_path / "runs"
    first = runner.run_one("digits", "base", 64, 0, prof, root, "cpu", progress=False)
    d = root / "base" / "s0"
    assert [r["sampler"] for r in first] == ["ddim-5"]
    assert {p.name for p in d.iterdir()} == {"ddim-5.json", "model.pt", "train.json", "timing.json"}
    stored = (d / "ddim-5.json").read_bytes()
    trained = json.loads((d / "timing.json").read_text())["train_seconds"]
    assert isinstance(trained, float) and trained > 0                  # training timed in the call that trained

    def no_training(*a, **k):
        raise AssertionError("retrained")
    calls = []
    real = D.sample
    monkeypatch.setattr(runner, "train", no_training)
    monkeypatch.setattr(D, "sample", lambda name, *a, **k: calls.append(name) or real(name, *a, **k))
    more = dataclasses.replace(prof, samplers=("ddim-5", "ddim-2"))
    second = runner.run_one("digits", "base", 64, 0, more, root, "cpu", progress=False)
    assert [r["sampler"] for r in second] == ["ddim-5", "ddim-2"] and calls == ["ddim-2"]
    assert (d / "ddim-5.json").read_bytes() == stored and second[0] == first[0]
    timing = json.loads((d / "timing.json").read_text())
    assert timing["sample_seconds"].keys() == {"ddim-5", "ddim-2"} and timing["train_seconds"] == trained
    (d / "model.pt").unlink()
    with pytest.raises(RunFileError, match="model.pt"):
        runner.run_one("digits", "base", 64, 0, dataclasses.replace(prof, samplers=("ddim-5", "ddim-3")), root,
                       "cpu", progress=False)
    with pytest.raises(AssertionError, match="retrained"):
        runner.run_one("digits", "base", 64, 0, prof, tmp_path / "fresh", "cpu", progress=False)
    assert not (tmp_path / "fresh").exists()


def test_upsampled_images_pool_back_to_the_8x8_images():
    """size = 16 repeats every pixel 2×2 before the same shift and clip: the nearest and the average-pooled
    views are the 8×8 images exactly, so L_avg and the near-extreme fraction are unchanged."""
    x8, lab8 = make_images("test")
    x16, lab16 = make_images("test", size=16)
    assert x16.shape == (1000, 1, 16, 16) and torch.equal(lab16, lab8)
    assert torch.equal(x16[..., ::2, ::2], x8) and torch.equal(x16[..., 1::2, 1::2], x8)
    assert torch.allclose(torch.nn.functional.avg_pool2d(x16, 2), x8, atol=1e-15)
    assert extreme_fraction(x16) == extreme_fraction(x8)
    for bad in (12, 4, 16.0, True):
        with pytest.raises(ValueError, match="multiple of 8"):
            make_images("test", size=bad)


def test_digit_scores_pool_upsampled_images_to_8x8():
    d, lab = digits("test")
    up = d.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    s8, s16 = digit_scores(d, lab), digit_scores(up, lab)
    assert s16 == pytest.approx(s8, abs=1e-9)


def test_brightness16_profile_and_its_folder():
    from gendiff.experiments.spec import default_out
    prof = D.PROFILES["brightness16"]
    assert (prof.size, prof.schedule, prof.dims) == (16, "scaled_linear", (256,))
    assert prof.methods == ("base", "base-signal-leak", "proposed-sc1", "zero-snr")
    assert samplers_for(prof, "base-signal-leak") == ["ddim-50", "dpm2m-20"]
    assert default_out("digits", "brightness16") == "reports/experiments/digits-brightness16"
    assert default_out("digits", "brightness16", "scaled_linear") == "reports/experiments/digits-brightness16"
    assert default_out("digits", "brightness16", "linear") == "reports/experiments/digits-brightness16-linear"


def test_image_engine_fits_the_signal_leak_on_the_training_images(tmp_path, monkeypatch):
    """base-signal-leak on images: the engine fits SignalLeak on the training split (not the held-out one) and
    samples 16×16 images from it, on the profile's own schedule."""
    from gendiff.experiments.spec import Profile
    from gendiff.starts import channel_brightness
    seen = {}
    real = runner.build_method

    def spy(cfg, T, **kw):
        seen[cfg] = kw
        return real(cfg, T, **kw)
    monkeypatch.setattr(runner, "build_method", spy)
    prof = Profile(dims=(256,), size=16, schedule="scaled_linear", seeds=1, steps=2, batch=8, T=20, n_gen=8,
                   n_test=8, ch=4, methods=("base-signal-leak",), samplers=("ddim-2",), ancestral=False)
    recs = runner.run_one("digits", "base-signal-leak", 256, 0, prof, tmp_path, "cpu", progress=False,
                          schedule="scaled_linear")
    kw = seen["base-signal-leak"]
    L = channel_brightness(make_images("train", size=16)[0]).double()
    assert kw["schedule"] == "scaled_linear" and kw["image"]
    assert torch.allclose(kw["leak"].mean, L.mean(0)) and torch.allclose(kw["leak"].var, L.var(0))
    assert [r["sampler"] for r in recs] == ["ddim-2"] and len(recs[0]["grid"][0]) == 256
