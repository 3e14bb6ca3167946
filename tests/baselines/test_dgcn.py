from __future__ import annotations

import pytest
import torch

from baselines.dgcn import AdaptiveGraphConv, SpectralGraphFilter, TemporalConv
from baselines.graph import COCO17, NTU25, temporal_chain_graph


@pytest.mark.parametrize("graph", [COCO17, NTU25, temporal_chain_graph(9)])
def test_all_ones_spectral_filter_is_the_identity(graph) -> None:
    spectral = SpectralGraphFilter(graph=graph, channels=3)
    assert (spectral.gain == 1).all()  # the initial filter
    v = graph.num_nodes
    torch.testing.assert_close(spectral.filter_matrix(), torch.eye(v).expand(3, v, v))
    x = torch.randn(2, 3, 5, v)
    torch.testing.assert_close(spectral(x), x, atol=1e-5, rtol=1e-5)


def test_spectral_filter_scales_each_graph_frequency_by_its_gain() -> None:
    spectral = SpectralGraphFilter(graph=COCO17, channels=2)
    with torch.no_grad():
        spectral.gain.copy_(torch.linspace(-1, 2, 34).view(2, 17))
    u = spectral.basis
    for channel, freq in [(0, 0), (1, 4), (0, 16)]:
        x = torch.zeros(1, 2, 1, 17)
        x[0, channel, 0] = u[:, freq]  # a pure graph-frequency signal
        y = spectral(x)
        torch.testing.assert_close(y, spectral.gain[channel, freq] * x, atol=1e-5, rtol=1e-5)


def test_spectral_low_pass_on_a_chain_smooths_over_clips() -> None:
    graph = temporal_chain_graph(8)
    spectral = SpectralGraphFilter(graph=graph, channels=1)
    with torch.no_grad():
        spectral.gain.zero_()
        spectral.gain[0, 0] = 1.0  # keep only the lowest frequency
    x = torch.randn(1, 1, 1, 8)
    u0 = spectral.basis[:, 0]
    torch.testing.assert_close(spectral(x)[0, 0, 0], (x[0, 0, 0] @ u0) * u0)


def test_vertex_graph_conv_by_hand() -> None:
    conv = AdaptiveGraphConv(graph=COCO17, in_channels=1, out_channels=1)
    with torch.no_grad():
        conv.conv.weight.fill_(1.0)
        conv.conv.bias.zero_()
    x = torch.zeros(1, 1, 1, 17)
    x[..., 5] = 1.0  # signal at the left shoulder
    y = conv(x)[0, 0, 0].tolist()
    assert y[5] == pytest.approx(1.0)  # itself
    assert y[7] == pytest.approx(1.0)  # the left elbow reads its parent
    assert y[11] == pytest.approx(1.0)  # so does the left hip
    # the nose reads the mean of its 4 children (both eyes, both shoulders)
    assert y[0] == pytest.approx(0.25)
    assert y[9] == 0.0
    with torch.no_grad():
        conv.learned[0, 5, 9] = 2.0  # a learned edge shoulder -> wrist
    assert conv(x)[0, 0, 0, 9].item() == pytest.approx(2.0)


def test_temporal_conv_shapes_and_kernel_check() -> None:
    unit = TemporalConv(channels=4, stride=2, kernel_size=5)
    assert unit(torch.randn(2, 4, 7, 3)).shape == (2, 4, 4, 3)
    with pytest.raises(ValueError, match="odd"):
        TemporalConv(channels=4, stride=1, kernel_size=2)
