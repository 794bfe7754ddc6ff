"""The network looks at every third frame of a shot (vst/every_third_frame.py): which frames,
what the others get, and that batching changes nothing."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch

from tests.helpers import generator_checkpoint, sample_frame_and_style, sample_frames
from vst.every_third_frame import EveryThirdFrame
from vst.grader import Grader

FIRST = 5  # the chunk's first frame: which frames are looked at counts from there


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """An untrained generator whose field varies across the frame and from frame to frame."""
    return generator_checkpoint(tmp_path_factory.mktemp("g") / "g.ckpt", sample_frame_and_style()[1],
                                local_field=True)


@pytest.fixture(scope="module")
def grader(ckpt) -> Grader:
    return Grader(ckpt, accelerator="cpu", precision="32-true")  # bf16 rounds by batch size


@pytest.fixture(scope="module")
def clip(grader):
    """13 real frames in two shots: [0, 7) as they are, [7, 13) mirrored and darker (other
    statistics); each frame's rows are its shot's, as a plan gives them."""
    frames = sample_frames(13)
    frames[7:] = (frames[7:, :, ::-1] * 0.6).astype(np.uint8)
    stats = torch.cat([grader.one_shot_stats(frames[:7]), grader.one_shot_stats(frames[7:])])
    boxes = torch.tensor([[0, frames.shape[1], 0, frames.shape[2]]] * 13)
    return frames, stats, boxes


@pytest.fixture
def looks(monkeypatch) -> list[int]:
    """How many frames each pass of the network looked at (Grader.local_field, counted)."""
    counts, original = [], Grader.local_field

    def counted(self, frames):
        counts.append(sum(len(f) for f in frames))
        return original(self, frames)

    monkeypatch.setattr(Grader, "local_field", counted)
    return counts


def _graded(grader, clip, batch: int) -> np.ndarray:
    """The clip graded batch by batch as grade_stream hands it over (the two frames after
    each batch with it, fewer at the end)."""
    frames, stats, boxes = clip
    render = EveryThirdFrame(grader, lambda a, b: (stats[a - FIRST:b - FIRST], boxes[a - FIRST:b - FIRST]))
    out = []
    for i in range(0, len(frames), batch):
        after = [frames[j:j + 1] for j in range(i + batch, min(i + batch + 2, len(frames)))]
        out.append(render(frames[i:i + batch], FIRST + i, after))
    return np.concatenate(out)


def test_the_network_looks_at_every_third_frame_and_those_between_take_a_mix_of_theirs(grader, clip, looks):
    frames, stats, boxes = clip
    # every third frame from the chunk's first, and each shot's first and last (6 ends one, 7
    # starts the next, 12 ends the chunk); the others lie between two of them
    looked = [0, 3, 6, 7, 9, 12]
    around = {1: (0, 3), 2: (0, 3), 4: (3, 6), 5: (3, 6), 8: (7, 9), 10: (9, 12), 11: (9, 12)}
    own = {i: grader.local_field([frames[i:i + 1]])[0] for i in looked}
    for batch in (1, 2, 3, 4, 13):
        looks.clear()
        graded = _graded(grader, clip, batch)
        assert sum(looks) == len(looked), batch
        for i in range(13):
            if i in own:
                local = own[i]
            else:
                a, b = around[i]
                local = own[a] + (i - a) / (b - a) * (own[b] - own[a])
            expected = grader(frames[i:i + 1], stats[i:i + 1], boxes[i:i + 1], local[None])
            assert np.abs(graded[i].astype(int) - expected[0]).max() <= 1, (batch, i)
        if batch == 1:
            first = graded
        else:  # however the frames are batched, the same grade
            assert np.abs(graded.astype(int) - first).max() <= 1, batch


def test_the_frames_it_looks_at_are_graded_as_when_it_looks_at_every_frame(grader, clip):
    frames, stats, boxes = clip
    graded = _graded(grader, clip, 4)
    plain = grader(frames, stats, boxes)  # the network looks at every frame
    diff = np.abs(graded.astype(int) - plain).max(axis=(1, 2, 3))
    assert diff[[0, 3, 6, 7, 9, 12]].max() <= 1
    assert diff[[1, 2, 4, 5, 8, 10, 11]].min() > 0  # (an untrained field: no closeness to expect)


def test_predict_has_the_network_look_at_every_third_frame_whatever_the_batch(ckpt, tmp_path, looks):
    """Through predict (first pass, chunk, read -> grade -> write): a third of the frames
    looked at, and the same pixels from batches of 1, 3 and 4 (each batch is handed the two
    frames after it)."""
    from tests.helpers import ROOT, compose_config
    from vst.predict import predict

    clip = ROOT / "samples" / "mountain_walk_2s.mp4"
    outputs = []
    for batch in (1, 3, 4):
        looks.clear()
        out = predict(compose_config("predict", f"ckpt={ckpt}", f"video={clip}",
                                     f"output={tmp_path / f'{batch}.mkv'}", "codec=ffv1",
                                     "precision=32-true", f"batch_size={batch}"))
        with av.open(str(out)) as c:
            outputs.append(np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]))
        frames = len(outputs[-1])
        assert frames > 40 and sum(looks) == len({*range(0, frames, 3), frames - 1})  # one shot
    # (a code from float rounding in the grade, one more through the file's 10-bit YUV)
    assert np.abs(outputs[0].astype(int) - outputs[1]).max() <= 2
    assert np.abs(outputs[0].astype(int) - outputs[2]).max() <= 2
