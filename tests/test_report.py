"""`gendiff report`: deterministic bytes, committed reports are not stale, writes are atomic."""
from pathlib import Path

import pytest

from gendiff import io
from gendiff.cli import main

REPORTS = Path(__file__).resolve().parents[1] / "reports"
STABLE = ("derivations.md", "derivations.json", "audit_examples.md", "brightness_variance.json")


def test_report_regenerates_the_committed_files_byte_for_byte(tmp_path):
    assert main(["report", "--out", str(tmp_path), "--no-experiments"]) == 0
    for name in STABLE:
        assert (tmp_path / name).read_bytes() == (REPORTS / name).read_bytes(), \
            f"reports/{name} is stale or not deterministic: run `make report`"
    for fig in ("coefficients.png", "balanced_vs_offset.png", "brightness_variance.png"):
        assert (tmp_path / "figures" / fig).stat().st_size > 10_000
    index = (tmp_path / "README.md").read_text()
    assert all(f"`{name}`" in index for name in STABLE)
    assert "experiments/" not in index                     # no experiment was run into tmp_path
    assert "total:" in (tmp_path / "timings.txt").read_text()


def test_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch):
    p = tmp_path / "r.md"
    io.write_text_atomic(p, "old\n")

    def boom(*_):
        raise KeyboardInterrupt
    monkeypatch.setattr(io.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        io.write_text_atomic(p, "new, half written")
    assert p.read_text() == "old\n"
    assert [f.name for f in tmp_path.iterdir()] == ["r.md"]      # no temp file left behind
