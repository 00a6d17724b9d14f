"""Bad inputs raise errors that say what was wrong; devices and dtypes follow the inputs."""
import json
import math

import numpy as np
import pytest
import torch

from gendiff.cli import main
from gendiff.diffusion import q_posterior, q_sample, q_step, x0_from_eps
from gendiff.losses import training_loss
from gendiff.methods import make_method
from gendiff.schedules import ScheduleError, make_beta, rescale_zero_terminal_snr
from gendiff.tables import build_tables, extract
from gendiff.xi import Brightness, Gaussian, PerChannel, make_xi


@pytest.mark.parametrize("beta,msg", [
    ([0.1, 0.0], "outside"), ([0.1, 1.5], "outside"), ([0.1, float("nan")], "not finite"),
    ([0.1, float("inf")], "not finite"), ([], "empty"), ([[0.1]], "1-D"), ([1.0, 0.1], "only β_T"),
    ([-0.2], "outside"),
])
def test_bad_beta(beta, msg):
    with pytest.raises(ScheduleError, match=msg):
        build_tables(beta)


def test_bad_schedule_args(tmp_path):
    with pytest.raises(ScheduleError, match="T must be"):
        make_beta("linear", 0)
    with pytest.raises(ScheduleError, match="unknown schedule"):
        make_beta("quadratic", 10)
    with pytest.raises(ScheduleError, match="no such file"):
        make_beta(str(tmp_path / "missing.npy"))
    bad = tmp_path / "b.csv"
    bad.write_text("0.1, abc")
    with pytest.raises(ScheduleError, match="cannot read"):
        make_beta(str(bad))


def test_schedule_files_roundtrip(tmp_path):
    b = make_beta("cosine", 50)
    np.save(tmp_path / "b.npy", b.numpy())
    (tmp_path / "b.txt").write_text("\n".join(repr(x) for x in b.tolist()))
    (tmp_path / "b.csv").write_text(",".join(repr(x) for x in b.tolist()))
    for f in ("b.npy", "b.txt", "b.csv"):
        assert torch.equal(make_beta(str(tmp_path / f)), b)


@pytest.mark.parametrize("kw,msg", [
    (dict(sigma0=-1.0), "sigma0"), (dict(sigma0=float("nan")), "sigma0"), (dict(variance="big"), "variance"),
    (dict(gamma="sometimes"), "gamma must be"), (dict(gamma=[0.1, 0.2]), r"shape \(10,\)"),
    (dict(gamma=[float("nan")] * 10), "non-finite"), (dict(offset_w=float("nan")), "finite"),
])
def test_bad_table_args(kw, msg):
    with pytest.raises(ValueError, match=msg):
        build_tables(make_beta("linear", 10), **kw)


def test_zero_terminal_snr_is_explicit():
    b = rescale_zero_terminal_snr(make_beta("linear", 100))
    assert b[-1] == 1.0
    with pytest.raises(ScheduleError, match="ᾱ_T > 0"):
        build_tables(b, gamma="balanced")
    tb = build_tables(b, gamma="zero")
    assert not torch.isnan(torch.stack([v.double().sum() for v in tb.as_dict().values()])).any()
    x = torch.randn(4, 3)
    t = torch.full((4,), 100)
    with pytest.raises(ValueError, match="v-prediction"):
        x0_from_eps(x, x, t, tb)
    with pytest.raises(ValueError, match="infinite"):
        training_loss(lambda x, t: x, x, tb, make_xi("dirac"), weight="elbo", t=t)
    assert torch.isfinite(training_loss(lambda x, t: x, x, tb, make_xi("dirac"), pred="v", weight="elbo", t=t))


def test_bad_shapes_and_steps():
    tb = build_tables(make_beta("linear", 10))
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match="1..T = 10"):
        q_sample(x, torch.full((4,), 11), x, x, tb)
    with pytest.raises(ValueError, match="1..T"):
        q_step(x, torch.zeros(4, dtype=torch.long), x, x, tb)
    with pytest.raises(ValueError, match="shape mismatch"):
        q_posterior(x, torch.randn(4, 2), x, torch.ones(4, dtype=torch.long), tb)
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        extract(tb.beta, torch.ones(3, dtype=torch.long), x)
    with pytest.raises(TypeError, match="integer"):
        q_sample(x, torch.ones(4), x, x, tb)
    with pytest.raises(ValueError, match="pred"):
        training_loss(lambda x, t: x, x, tb, make_xi("dirac"), pred="x0")


def test_bad_xi_families():
    with pytest.raises(ValueError, match="sigma_c"):
        Brightness(sigma_c=-1)
    with pytest.raises(ValueError, match="positive semi-definite"):
        Gaussian(mean=[0, 0], cov=[[1, 0], [0, -1]])
    with pytest.raises(ValueError, match="symmetric"):
        Gaussian(mean=[0, 0], cov=[[1, 0.5], [0, 1]])
    with pytest.raises(ValueError, match="B, C, H, W"):
        PerChannel(sigma_c=1).sample((2, 3))
    with pytest.raises(ValueError, match="unknown q"):
        make_xi("laplace")
    with pytest.raises(ValueError, match="unknown method"):
        make_method("magic", make_beta("linear", 10))


def test_per_channel_shape():
    xi = PerChannel(sigma_c=0.5).sample((2, 3, 4, 5), generator=torch.Generator().manual_seed(0))
    assert xi.shape == (2, 3, 4, 5)
    assert torch.equal(xi, xi[:, :, :1, :1].expand_as(xi))
    assert not torch.equal(xi[:, 0], xi[:, 1])


def test_coefficients_cli(tmp_path, capsys):
    out = tmp_path / "c.json"
    assert main(["coefficients", "--schedule", "cosine", "--T", "50", "--format", "json", "--out", str(out)]) == 0
    d = json.loads(out.read_text())
    assert {"beta", "alpha_bar", "gamma", "c", "psi", "phi", "lam"} <= set(d)
    assert len({len(v) for v in d.values()}) == 1 and len(d["beta"]) == 50
    assert math.isclose(d["c"][-1], 1.0, rel_tol=1e-12) and d["t"][0] == 1
    assert main(["coefficients", "--T", "5", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("t,beta,") and len(lines) == 6
    npy = tmp_path / "c.npy"
    assert main(["coefficients", "--T", "7", "--format", "npy", "--out", str(npy)]) == 0
    assert np.load(npy)["psi"].shape == (7,)
    assert main(["coefficients", "--T", "0"]) == 2
    assert "argument --T" in capsys.readouterr().err


def test_device_and_dtype_follow_input(device):
    tb = build_tables(make_beta("linear", 20)).to(device)
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(8, 5, device=device, dtype=dtype)
        t = torch.randint(1, 21, (8,), device=device)
        y = q_sample(x, t, torch.randn_like(x), torch.randn_like(x), tb)
        assert y.device.type == device.type and y.dtype == dtype
        m, v = q_posterior(y, x, x, t, tb)
        assert m.dtype == dtype and v.device.type == device.type


def test_cli_output_into_closed_pipe_is_quiet():
    """`gendiff verify-offset ... | head -1`: the reader is gone before the output; no traceback, exit 141."""
    import subprocess
    import sys
    code = ("import time; time.sleep(0.5); from gendiff.cli import main; "
            "raise SystemExit(main(['verify-offset', '--T', '50', '--input-coef', 'const:0.1']))")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 141, err
    assert "Traceback" not in err
