import numpy as np
import pytest
import torch
from PIL import Image

from vst.errors import VstError
from vst.io.image import load_image, save_image


def test_rgba_grey_and_16bit_become_rgb_floats(tmp_path):
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 10
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(np.full((4, 5), 128, np.uint8), "L").save(tmp_path / "grey.png")
    Image.fromarray(np.full((4, 5), 65535, np.uint16)).save(tmp_path / "grey16.png")
    Image.fromarray(np.full((4, 5), 32768, np.uint16)).save(tmp_path / "half16.png")

    a = load_image(tmp_path / "rgba.png")
    assert a.shape == (3, 4, 5) and a.dtype == torch.float32
    assert torch.allclose(a[0], torch.ones(4, 5)) and a[1:].abs().max() == 0
    g = load_image(tmp_path / "grey.png")
    assert g.shape == (3, 4, 5) and torch.allclose(g, torch.full_like(g, 128 / 255))
    assert torch.allclose(load_image(tmp_path / "grey16.png"), torch.ones(3, 4, 5))
    assert torch.allclose(load_image(tmp_path / "half16.png"), torch.full((3, 4, 5), 0.5), atol=1e-4)


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (6, 2), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    img.save(tmp_path / "rot.jpg", exif=exif)
    assert load_image(tmp_path / "rot.jpg").shape == (3, 6, 2)


def test_save_round_trip_is_exact_for_8bit(tmp_path):
    x = torch.randint(0, 256, (3, 5, 7)).float() / 255
    save_image(x, tmp_path / "x.png")
    assert torch.equal(load_image(tmp_path / "x.png"), x)
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.parametrize("content,match", [(b"", "empty"), (b"hello", "not a readable image")])
def test_bad_files_give_clear_errors(tmp_path, content, match):
    path = tmp_path / "style.png"
    path.write_bytes(content)
    with pytest.raises(VstError, match=match):
        load_image(path, "style")


def test_16_bit_pngs_still_work_after_a_keyframe_read_by_decord(tmp_path):
    """decord bundles an old zlib; a cv2 loaded after it fails on 16-bit PNGs. A fresh process,
    since the test session has cv2 loaded already."""
    import subprocess
    import sys

    from tests.helpers import ROOT

    code = f"""
import numpy as np
from vst.io.video import VideoFrames
from vst.io.image import save_image, load_image
VideoFrames({str(ROOT / 'samples' / 'mountain_walk_2s.mp4')!r}).read([0])
ramp = np.repeat(np.arange(0, 65535, 100, dtype=np.uint16)[None, :, None], 3, axis=2)
save_image(ramp, {str(tmp_path / 'ramp.png')!r})
back = load_image({str(tmp_path / 'ramp.png')!r})
assert back.shape == (3, 1, 656) and len(set(back[0, 0].tolist())) == 656  # not cut to 8 bits
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
