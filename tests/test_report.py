"""`gendiff report`: deterministic bytes, committed reports are not stale, writes are atomic."""
from pathlib import Path

import pytest

from gendiff import io
from gendiff.cli import main

REPORTS = Path(__file__).resolve().parents[1] / "reports"
STABLE = ("derivations.md", "derivations.json", "audit_examples.md", "brightness_variance.json")


def test_report_regenerates_the_committed_files_byte_for_byte(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path), "--no-experiments"]) == 0
    assert capsys.readouterr().err == ""                   # stderr is not a terminal: no progress bars
    for name in STABLE:
        assert (tmp_path / name).read_bytes() == (REPORTS / name).read_bytes(), \
            f"reports/{name} is stale or not deterministic: run `make report`"
    for fig in ("coefficients.png", "balanced_vs_offset.png", "brightness_variance.png"):
        assert (tmp_path / "figures" / fig).read_bytes() == (REPORTS / "figures" / fig).read_bytes(), fig
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


def test_every_experiment_folder_is_in_sync_with_its_results_json(tmp_path):
    """results.md and every figure of each committed folder are what `gendiff report` renders from its
    results.json (+ figure_data.json, timings.json).  Folders run before figure_data.json existed keep their
    histogram / loss / sample-grid figures as committed: the data behind them is no longer stored, so only
    their metric figures are compared (none for the digits folders, whose figures all need that data)."""
    import shutil

    from gendiff.experiments.report import render_folder
    folders = sorted(p.parent for p in (REPORTS / "experiments").glob("*/results.json"))
    assert len(folders) >= 8
    for src in folders:
        dst = tmp_path / src.name
        dst.mkdir()
        for name in ("results.json", "figure_data.json", "timings.json"):
            if (src / name).exists():
                shutil.copy(src / name, dst / name)
        written = render_folder(dst)
        assert (dst / "results.md").read_bytes() == (src / "results.md").read_bytes(), \
            f"{src.name}/results.md is stale: run `gendiff report`"
        assert "Command: `gendiff experiment " in (src / "results.md").read_text()
        for fig in written:
            assert fig.read_bytes() == (src / "figures" / fig.name).read_bytes(), f"{src.name}/figures/{fig.name}"
        if (src / "figure_data.json").exists() or src.name.startswith("regime"):      # regime: all from results.json
            assert sorted(f.name for f in written) == sorted(f.name for f in (src / "figures").glob("*.png"))
        elif not src.name.startswith("digits"):
            assert "metrics_vs_n.png" in {f.name for f in written}, src.name
