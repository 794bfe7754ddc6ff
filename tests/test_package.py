"""vst as an installed package: the wheel carries its configs, `vst <command>` and
`python -m vst <command>` run from any folder and write there."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

from tests.helpers import ROOT, TINY

SAMPLE_VIDEO, SAMPLE_STYLE = ROOT / "samples" / "mountain_walk_2s.mp4", ROOT / "samples" / "in47_360.jpg"


@pytest.mark.slow
def test_the_wheel_installs_and_vst_trains_and_grades_from_another_folder(tmp_path):
    wheels, target, work = tmp_path / "dist", tmp_path / "site", tmp_path / "elsewhere"
    work.mkdir()
    pip = [sys.executable, "-m", "pip", "-q"]
    built = subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(ROOT)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next(wheels.glob("vst-*.whl"))
    assert "vst/conf/config.yaml" in zipfile.ZipFile(wheel).namelist()
    installed = subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)],
                               capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr[-3000:]
    # the installed copy, not the checkout: PYTHONPATH comes before the editable install
    env = {**os.environ, "PYTHONPATH": str(target)}

    def vst(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(target / "bin" / "vst"), *args], capture_output=True, text=True,
                              cwd=work, env=env, timeout=600)

    where = subprocess.run([sys.executable, "-c", "import vst; print(vst.__file__)"], cwd=work,
                           env=env, capture_output=True, text=True)
    assert where.stdout.startswith(str(target)), where.stdout
    trained = vst("train", f"video={SAMPLE_VIDEO}", f"style={SAMPLE_STYLE}", *TINY, "trainer.max_steps=4",
                  "log.val_every=2")
    assert trained.returncode == 0, trained.stderr[-3000:]
    ckpts = list((work / "outputs").rglob("best.ckpt"))
    assert len(ckpts) == 1, trained.stdout  # the run folder is under the folder it ran in
    graded = vst("predict", f"ckpt={ckpts[0]}", f"video={SAMPLE_VIDEO}", f"output={work / 'graded.mp4'}")
    assert graded.returncode == 0, graded.stderr[-3000:]
    assert (work / "graded.mp4").stat().st_size > 10_000


def test_python_m_vst_names_the_commands_and_refuses_an_unknown_one():
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "vst", *args], capture_output=True, text=True)

    listed = run("--help")
    assert listed.returncode == 0
    for command in ("train", "predict", "evaluate", "lut"):
        assert f"  {command} " in listed.stdout
    wrong = run("trian")
    assert wrong.returncode == 2 and "no command 'trian'" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    bare = run()
    assert bare.returncode == 2 and "usage: python -m vst" in bare.stderr


def test_the_resume_command_printed_is_the_one_that_was_run(monkeypatch):
    from vst import cli
    from vst.runs import resume_command

    monkeypatch.setattr(cli, "INVOKED_AS", ["vst", "train"])
    assert resume_command(ROOT / "last.ckpt", ["video=a.mp4", "resume=old"]).startswith(
        "vst train video=a.mp4 resume=")
