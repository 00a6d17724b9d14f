"""verify-offset: verdicts on known cases, every bad-input path, the JSON schema."""
import json

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

from gendiff import _reference as R
from gendiff.audit import audit, implied_gamma, implied_target
from gendiff.cli import main
from gendiff.schedules import make_beta, rescale_zero_terminal_snr
from gendiff.tables import build_tables
from tests.strategies import betas


@given(betas(max_T=500), st.integers(0, 2**31 - 1))
def test_audit_formulas_equal_reference(beta, seed):
    a = torch.rand(beta.shape[0], generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    ref = R.offset_target_implied(beta, a)
    # b*_t is a difference of two terms: compare at their scale (≤ 1e-12 relative to it)
    tb = build_tables(beta, gamma="zero")
    scale = (a.abs() * tb.one_minus_alpha_bar + torch.cat([a.new_zeros(1), a[:-1].abs()])) / tb.beta
    assert ((implied_target(beta, a) - ref).abs() <= 1e-12 * scale).all()
    assert torch.allclose(implied_gamma(beta, ref), R.offset_gamma_implied(beta, ref), rtol=1e-12, atol=0)


@given(betas(min_T=2, max_T=1000), st.floats(1e-3, 2.0))
def test_constant_w_is_inconsistent_and_balanced_is_consistent(beta, w):
    assert not audit(beta, w).consistent                     # derived: never consistent for T >= 2
    psi = build_tables(beta).psi
    res = audit(beta, psi)
    assert res.consistent and res.normalised and res.balanced_up_to_factor
    assert audit(beta, 3 * psi).balanced_up_to_factor and not audit(beta, 3 * psi).normalised
    mis = audit(beta, psi * 1.01, psi)                       # input mis-scaled by 1 %: 1/101 at every t
    assert not mis.consistent and mis.argmax_t == 1 and abs(mis.max_rel_mismatch - 1 / 101) < 1e-9


def test_single_step_constant_w_is_consistent():
    assert audit(make_beta("linear", 2)[1:], 0.3).consistent


def test_verify_offset_cli(tmp_path, capsys):
    beta = make_beta("cosine", 200)
    psi = build_tables(beta).psi.numpy()
    np.save(tmp_path / "psi.npy", psi)
    np.savetxt(tmp_path / "bad.txt", psi * 1.01)
    assert main(["verify-offset", "--schedule", "cosine", "--T", "200", "--input-coef", "const:0.1"]) == 1
    assert "inconsistent" in capsys.readouterr().out
    assert main(["verify-offset", "--schedule", "cosine", "--T", "200", "--input-coef", str(tmp_path / "psi.npy"),
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["verdict"] == "consistent" and d["normalised"] and d["balanced_up_to_factor"]
    assert {"implied_gamma", "implied_phi", "max_rel_mismatch", "argmax_t", "c_T", "T", "schedule"} <= set(d)
    assert len(d["implied_gamma"]) == len(d["implied_phi"]) == 200
    assert main(["verify-offset", "--schedule", "cosine", "--T", "200", "--input-coef", str(tmp_path / "bad.txt"),
                 "--target-coef", str(tmp_path / "psi.npy")]) == 1


@pytest.mark.parametrize("argv,msg", [
    (["--input-coef", "const:abc"], "const:W"),
    (["--input-coef", "const:nan"], "not finite"),
    (["--input-coef", "const:inf"], "not finite"),
    (["--input-coef", "MISSING.npy"], "no such file"),
    (["--T", "10", "--input-coef", "LEN3"], "3 entries"),
    (["--schedule", "nope", "--input-coef", "const:0.1"], "unknown schedule"),
    (["--T", "0", "--input-coef", "const:0.1"], "argument --T"),
    (["--sigma0", "-1", "--input-coef", "const:0.1"], "sigma0"),
    (["--schedule", "ZSNR", "--input-coef", "const:0.1"], "zero terminal SNR"),
    (["--input-coef", "BADFILE"], "cannot read"),
])
def test_verify_offset_unusable_input(argv, msg, tmp_path, capsys):
    np.savetxt(tmp_path / "l3.txt", [0.1, 0.2, 0.3])
    np.save(tmp_path / "z.npy", rescale_zero_terminal_snr(make_beta("linear", 50)).numpy())
    (tmp_path / "bad.csv").write_text("x,y")
    subs = {"LEN3": str(tmp_path / "l3.txt"), "MISSING.npy": str(tmp_path / "missing.npy"),
            "ZSNR": str(tmp_path / "z.npy"), "BADFILE": str(tmp_path / "bad.csv")}
    argv = [subs.get(a, a) for a in argv]
    assert main(["verify-offset", *argv]) == 2
    assert msg in capsys.readouterr().err
