"""Shot detection and keyframe choice on real clips with known cuts."""

from __future__ import annotations

from tests.helpers import shared_file
from vst.io import open_frames
from vst.shots import detect_shots, shot_keyframes, shot_of


def test_bikes_has_its_six_shots_and_a_keyframe_in_each():
    frames = open_frames(str(shared_file("video/bikes_6shots.mp4")))
    shots = detect_shots(frames)
    cuts_s = [start / 25 for start, _ in shots[1:]]
    assert len(shots) == 6, shots
    for found, expected in zip(cuts_s, [1.2, 3.0, 5.5, 7.5, 9.7], strict=True):
        assert abs(found - expected) < 0.2, cuts_s
    assert shots[0][0] == 0 and shots[-1][1] == len(frames)
    assert all(a[1] == b[0] for a, b in zip(shots, shots[1:], strict=False))  # no gaps, no overlaps
    keys = shot_keyframes(shots)
    assert sorted({shot_of(k, shots) for k in keys}) == list(range(6))
    assert len(shot_keyframes(shots, per_shot=3)) == 18


def test_one_shot_clip_and_still_give_one_shot():
    clip = open_frames(str(shared_file("video/mountain_walk.mp4")))
    assert detect_shots(clip) == [(0, 250)] and shot_keyframes([(0, 250)]) == [125]
    assert detect_shots(open_frames(str(shared_file("pairs/in1.png")))) == [(0, 1)]
