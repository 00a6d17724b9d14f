"""The experiment's sampler axis: names, resumption on stored weights, and what results.json records."""
import dataclasses
import json

import pytest
import torch

from gendiff.experiments import sampling
from gendiff.experiments.runfiles import RunFileError
from gendiff.experiments.runner import PROFILES, run_one
from gendiff.experiments.spec import samplers_for


def test_sampler_names_parse_and_refuse():
    assert sampling.parse("ancestral-50", 50) == ("ancestral", 50)
    assert sampling.parse("ddim-10", 50) == ("ddim", 10)
    assert sampling.parse("stock-ddim-7", 50) == ("stock-ddim", 7)
    for bad in ("ancestral-40", "ddim-0", "ddim-51", "heun-10", "ddim-1x", "ddim"):
        with pytest.raises(ValueError):
            sampling.parse(bad, 50)
    assert sorted(["stock-ddim-5", "ddim-20", "ancestral-50", "ddim-5"], key=sampling.order) == \
        ["ancestral-50", "ddim-5", "ddim-20", "stock-ddim-5"]


def test_profiles_name_valid_samplers_and_stock_only_for_proposed():
    for prof in PROFILES.values():
        for cfg in prof.methods + prof.sweep_methods + prof.oracle_methods:
            names = samplers_for(prof, cfg)
            assert names[0] == f"ancestral-{prof.T}"
            for name in names:
                sampling.parse(name, prof.T)
            assert any(n.startswith("stock") for n in names) == ("proposed" in cfg and cfg not in prof.sweep_methods)
    assert samplers_for(PROFILES["full"], "offset-w0.5") == ["ancestral-1000"]        # sweeps: ancestral only


def test_samplers_share_the_start_and_differ_in_the_update():
    """ddim with ξ̂ and the stock update start from the same x_T (same seed) and give different samples."""
    from gendiff.experiments.runner import build_method
    m = build_method("proposed-sc1", 20)

    def model(x, t):                                   # any smooth v-model
        return 0.1 * x
    a = sampling.draw("ddim-5", model, m, (64, 3), pred="v", seed=1, device="cpu", dtype=torch.float64)
    b = sampling.draw("stock-ddim-5", model, m, (64, 3), pred="v", seed=1, device="cpu", dtype=torch.float64)
    c = sampling.draw("ddim-5", model, m, (64, 3), pred="v", seed=1, device="cpu", dtype=torch.float64)
    assert torch.equal(a, c)                           # deterministic given the seed
    assert float((a - b).abs().max()) > 1e-3


def test_added_sampler_runs_on_stored_weights(tmp_path):
    prof = dataclasses.replace(PROFILES["smoke"], steps=10, n_train=64, n_test=32, n_gen=32, samplers=("ddim-10",),
                               stock=())
    root = tmp_path / "runs"
    first = run_one("cylinder", "base", 2, 0, prof, root, "cpu", progress=False)
    d = root / "base" / "n2" / "s0"
    assert sorted(first["samplers"]) == ["ancestral-50", "ddim-10"]
    assert (d / "model.pt").exists() and not (d / "ckpt.pt").exists()
    more = dataclasses.replace(prof, samplers=("ddim-10", "ddim-5"))
    second = run_one("cylinder", "base", 2, 0, more, root, "cpu", progress=False)
    assert sorted(second["samplers"]) == ["ancestral-50", "ddim-10", "ddim-5"]
    for k in ("ancestral-50", "ddim-10"):                # kept, not re-sampled
        assert second["samplers"][k] == first["samplers"][k]
    assert second["loss_curve"] == first["loss_curve"]    # not retrained
    assert json.loads((d / "result.json").read_text())["samplers"].keys() == second["samplers"].keys()
    (d / "model.pt").write_bytes(b"not a torch file")
    with pytest.raises(RunFileError, match="model.pt"):
        run_one("cylinder", "base", 2, 0, dataclasses.replace(prof, samplers=("ddim-2",)), root, "cpu",
                progress=False)


def test_dpm2m_names_parse_and_draw():
    """`dpm2m-<k>` is a sampler name of the axis; it calls the model k times (trailing grid on linear)."""
    import torch
    from gendiff.experiments.runner import build_method
    from gendiff.experiments.sampling import draw, parse
    assert parse("dpm2m-20", 1000) == ("dpm2m", 20)
    method = build_method("proposed-sc1", 30)
    calls = []

    def model(x, t):
        calls.append(int(t[0]))
        return torch.zeros_like(x)
    draw("dpm2m-5", model, method, (2, 3), pred="v", seed=0, device="cpu", dtype=torch.float64)
    assert calls == [30, 24, 18, 12, 6]
