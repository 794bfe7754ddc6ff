"""The DataModule: keyframes from every shot, held-out frames apart from them, the style still,
all at the training size; frames asked for by hand; bad requests as clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.helpers import ROOT, encode_clip
from vst.data import KeyframeDataModule, spread_frames
from vst.errors import VstError

STILL = ROOT / "samples" / "in47_360.jpg"


@pytest.fixture(scope="module")
def two_shots(tmp_path_factory):
    """40 frames 96x64: a dark shot (0-19), then a cut to a bright one (20-39)."""
    x = np.linspace(0, 4 * np.pi, 96)[None, :, None]
    y = np.linspace(0, 2 * np.pi, 64)[:, None, None]
    dark = 40 + 30 * np.sin(x + y) * np.array([0.2, 0.5, 1.0])  # blue waves
    bright = 200 + 40 * np.sin(3 * y) * np.array([1.0, 0.6, 0.1])  # orange bands
    frames = [np.roll(dark if i < 20 else bright, i, axis=1).astype(np.uint8) for i in range(40)]
    path = tmp_path_factory.mktemp("clip") / "two_shots.mp4"
    encode_clip(path, frames, list(range(40)))
    return path


def _setup(video, **options) -> KeyframeDataModule:
    data = KeyframeDataModule(video=str(video), style=str(STILL), **options)
    data.setup("fit")
    return data


def test_one_keyframe_in_the_middle_of_each_shot_and_held_out_frames_apart(two_shots):
    data = _setup(two_shots, size=32, val_frames=3)
    assert data.shots == [(0, 20), (20, 40)]
    assert data.keyframe_indices == [10, 30]
    assert len(data.val_indices) == 3 and not set(data.val_indices) & {10, 30}
    assert data.keyframes.shape == (2, 3, 32, 48) and data.val.shape == (3, 3, 32, 48)
    assert data.keyframes[0].mean() < 0.4 < data.keyframes[1].mean()  # one from each shot
    assert min(data.style.shape[-2:]) == 32
    batch = next(iter(data.train_dataloader()))
    assert batch["content"].shape == (1, 3, 32, 48) and int(batch["index"][0]) == 0


def test_more_keyframes_per_shot_and_frames_by_hand(two_shots):
    assert _setup(two_shots, size=32, keyframes_per_shot=2).keyframe_indices == [5, 15, 25, 35]
    assert _setup(two_shots, size=32, keyframes=[0, -1]).keyframe_indices == [0, 39]
    with pytest.raises(VstError, match=r"keyframes=40 is past the end of video '.*two_shots.mp4' "
                                       r"\(40 frames: 0..39\)"):
        _setup(two_shots, keyframes=[40])


def test_a_folder_of_images_of_two_sizes_names_both(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    Image.new("RGB", (40, 30)).save(folder / "a_1.png")
    Image.new("RGB", (30, 40)).save(folder / "a_2.png")
    with pytest.raises(VstError, match="frames differ in size .a_1.png is 40x30, a_2.png 30x40"):
        _setup(folder, size=None, val_frames=1, keyframes=[0])


def test_spread_frames_avoids_the_excluded_and_spreads_evenly():
    assert spread_frames(10, 3, exclude={5}) == [2, 4, 7]
    assert spread_frames(3, 5, exclude={1}) == [0, 2]
    assert spread_frames(1, 2, exclude={0}) == []
