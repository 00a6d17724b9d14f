"""The README's code runs as written.

- Every ```python block runs, in order, in one interpreter and one namespace (a later block may continue an
  earlier one), in an empty temporary folder.
- Every ```bash block that invokes `gendiff` runs line by line in one empty temporary folder, with the
  environment's `gendiff` and `python` first on PATH.  A line must exit 0 unless its comment says
  `# exit N`; no line may print a traceback.  Bash blocks without a `gendiff` command (installation with
  make or pip) are not run.
- A block is skipped only when the line right before it is `<!-- not-run: REASON -->` with a reason.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)
MARKER = re.compile(r"<!--\s*not-run:\s*(.*?)\s*-->\s*$")
GENDIFF = re.compile(r"(^|[\s;&|(])gendiff\s")


def blocks(text: str):
    """(language, code, line number, not-run reason or None) for every fenced block."""
    out = []
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        before = text[: m.start()].rstrip("\n").splitlines()
        reason = MARKER.search(before[-1]) if before else None
        out.append((m.group(1), m.group(2), line, reason.group(1) if reason else None))
    return out


BLOCKS = blocks(README.read_text())
PYTHON = [b for b in BLOCKS if b[0] == "python" and b[3] is None]
BASH = [b for b in BLOCKS if b[0] == "bash" and b[3] is None and GENDIFF.search(b[1])]


def commands(code: str):
    """Logical lines of a shell block (backslash continuations joined), comments and blanks dropped."""
    joined = re.sub(r"\\\n\s*", " ", code)
    for raw in joined.splitlines():
        if raw.strip() and not raw.lstrip().startswith("#"):
            m = re.search(r"#\s*exit (\d+)", raw)
            yield raw, int(m.group(1)) if m else 0


def env():
    e = dict(os.environ)
    e["PATH"] = str(Path(sys.executable).parent) + os.pathsep + e.get("PATH", "")
    e.pop("GENDIFF_TRACEBACK", None)
    return e


def test_readme_has_runnable_blocks_and_every_skip_has_a_reason():
    assert PYTHON and BASH
    for lang, code, line, reason in BLOCKS:
        assert reason is None or reason.strip(), f"README line {line}: a not-run marker needs a reason"
    text = README.read_text()
    for m in re.finditer(r"^<!--\s*not-run", text, re.M):           # a marker is a line of its own
        assert MARKER.search(text[m.start():].splitlines()[0]), "malformed not-run marker"


def test_python_blocks_run(tmp_path):
    runner = ("import json, sys, traceback\n"
              "ns = {'__name__': '__readme__'}\n"
              "for line, code in json.load(open(sys.argv[1])):\n"
              "    try:\n"
              "        exec(compile(code, f'README.md:{line}', 'exec'), ns)\n"
              "    except BaseException:\n"
              "        traceback.print_exc()\n"
              "        sys.exit(f'the python block at README line {line} failed')\n")
    (tmp_path / "blocks.json").write_text(json.dumps([(line, code) for _, code, line, _ in PYTHON]))
    (tmp_path / "run.py").write_text(runner)
    p = subprocess.run([sys.executable, "run.py", "blocks.json"], cwd=tmp_path, env=env(), capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-4000:]


@pytest.mark.parametrize("block", BASH, ids=lambda b: f"line{b[2]}")
def test_bash_blocks_run(block, tmp_path):
    _, code, line, _ = block
    for cmd, expected in commands(code):
        p = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, env=env(), capture_output=True, text=True,
                           timeout=600)
        assert p.returncode == expected, f"README line {line}: `{cmd}` exited {p.returncode}\n{p.stderr[-2000:]}"
        assert "Traceback" not in p.stderr, f"README line {line}: `{cmd}`\n{p.stderr[-2000:]}"


def test_harness_reads_markers_and_exit_codes():
    text = "x\n<!-- not-run: demo -->\n```bash\nmake all\n```\n\n```bash\ngendiff a  # exit 1\ngendiff b \\\n  --c\n```\n"
    (l1, _, _, r1), (_, code, _, r2) = blocks(text)
    assert (l1, r1, r2) == ("bash", "demo", None)
    assert list(commands(code)) == [("gendiff a  # exit 1", 1), ("gendiff b  --c", 0)]
