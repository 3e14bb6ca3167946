import numpy as np
import pytest
import torch

from grounding.data.action_dataset import ActionClipDataset, ClipFlowCache
from grounding.data.input_cache import ClipInputCache
from grounding.data.video import read_frames


@pytest.mark.parametrize("compensate", [False, True])
@pytest.mark.parametrize("rgb_input", ["frames", "diff"])
def test_cached_inputs_give_the_decoded_items_exactly(tmp_path, split, compensate, rgb_input):
    clips = split.train[:3]
    inputs = ClipInputCache(tmp_path / "inputs", compensate=compensate)
    assert inputs.prepare([c.path for c in clips], progress=False) == len(clips)
    assert inputs.prepare([c.path for c in clips], progress=False) == 0
    common = {"train": True, "seed": 3, "input_size": 32, "compensate": compensate}
    common["rgb_input"] = rgb_input
    decoded = ActionClipDataset(clips, flow_cache=ClipFlowCache(tmp_path / "flow"), **common)
    cached = ActionClipDataset(clips, flow_cache=inputs, **common)
    for epoch in (0, 1):
        decoded.set_epoch(epoch)
        cached.set_epoch(epoch)
        for i in range(len(clips)):
            a, b = decoded[i], cached[i]
            assert torch.equal(a["rgb"], b["rgb"]) and torch.equal(a["flow"], b["flow"])


def test_entries_hold_every_frame_and_field(tmp_path, split):
    clip = split.train[0].path
    cache = ClipInputCache(tmp_path)
    frames, flow = cache.frames(clip), cache.get(clip)  # built on first use
    assert isinstance(flow, np.memmap) and flow.dtype == np.uint8
    assert frames.shape[0] == flow.shape[0] + 1 and flow.shape[1] == 2
    np.testing.assert_array_equal(frames, read_frames(clip, np.arange(len(frames))))
    np.testing.assert_array_equal(flow, ClipFlowCache(tmp_path / "f").compute(clip))
    assert cache.disk_bytes() == frames.nbytes + flow.nbytes + 2 * 128  # two .npy headers
    # the compensation setting keys a separate folder
    assert ClipInputCache(tmp_path, compensate=True).folder != cache.folder


def test_compensated_cache_refuses_an_uncompensated_dataset(tmp_path, split):
    cache = ClipInputCache(tmp_path, compensate=True)
    with pytest.raises(ValueError, match="camera-compensated"):
        ActionClipDataset(split.train, flow_cache=cache, train=False, compensate=False)


def test_truncated_entry_names_the_file(tmp_path, split):
    clip = split.train[0].path
    cache = ClipInputCache(tmp_path)
    cache.prepare([clip], progress=False)
    (cache.path_for(clip) / "flow.npy").write_bytes(b"\x93NUMPY cut")
    with pytest.raises(ValueError, match=r"flow\.npy: unreadable input cache entry"):
        cache.get(clip)


def test_an_entry_cut_between_its_two_files_is_rebuilt(tmp_path, split):
    """A crash after ``frames.npy`` and before ``flow.npy`` leaves an incomplete entry: it is
    not counted as cached, and the next read builds the missing file."""
    clip = split.train[0].path
    cache = ClipInputCache(tmp_path)
    cache.prepare([clip], progress=False)
    flow = np.array(cache.get(clip))
    (cache.path_for(clip) / "flow.npy").unlink()
    assert not cache.has(clip)
    np.testing.assert_array_equal(cache.get(clip), flow)
    assert cache.has(clip) and cache.prepare([clip], progress=False) == 0
