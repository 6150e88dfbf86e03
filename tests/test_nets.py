import math

import pytest
import torch

from pyro_cvae.components.nets import MLP, NETWORKS, DecoderNet, EncoderNet

GRIDS = [(2, 12), (1, 8, 8), (3, 10, 6)]


@pytest.mark.parametrize("network", list(NETWORKS))
@pytest.mark.parametrize("x_shape", GRIDS)
def test_encoder_and_decoder_shapes_with_leading_sample_dims(network, x_shape):
    encoder = EncoderNet(x_shape, (5,), 7, network, (16,), (4, 8))
    decoder = DecoderNet(3, (5,), x_shape, network, (16,), (4, 8))
    x, y = torch.randn(6, *x_shape), torch.randn(6, 5)
    assert encoder(x, y).shape == (6, 7)
    # Predictive's vectorized sampling: z gets a leading sample dim, y does not
    z = torch.randn(4, 6, 3)
    assert decoder(z, y).shape == (4, 6, *x_shape)
    # and the leading dims really are independent batch elements
    encoder.eval(), decoder.eval()
    assert torch.allclose(decoder(z, y)[2], decoder(z[2], y), atol=1e-5)


def test_encoder_without_condition_ignores_y():
    encoder = EncoderNet((4,), None, 2, "mlp", (8,))
    x = torch.randn(3, 4)
    assert torch.equal(encoder(x, torch.randn(3, 9)), encoder(x))


def test_mlp_layout():
    mlp = MLP(3, (5, 6), 2)
    assert [m.out_features for m in mlp if isinstance(m, torch.nn.Linear)] == [5, 6, 2]
    assert not isinstance(mlp[-1], torch.nn.ReLU)


def test_conv_network_on_flat_data_names_the_fix():
    with pytest.raises(ValueError, match="x_shape .*use network='mlp'"):
        EncoderNet((64,), None, 4, "conv2")


def test_too_small_grid_for_the_depth_is_a_clear_error():
    with pytest.raises(ValueError, match="too small for network 'downup'"):
        EncoderNet((1, 2, 2), None, 4, "downup", channels=(4, 4, 4))


def test_every_conv_network_gets_gradients():
    for network in NETWORKS:
        encoder = EncoderNet((1, 8, 8), (2,), 4, network, (8,), (4, 4))
        decoder = DecoderNet(4, (2,), (1, 8, 8), network, (8,), (4, 4))
        y = torch.randn(5, 2)
        loss = decoder(encoder(torch.randn(5, 1, 8, 8), y), y).pow(2).sum()
        loss.backward()
        for name, p in [*encoder.named_parameters(), *decoder.named_parameters()]:
            assert p.grad is not None and p.grad.abs().sum() > 0, (network, name)


@pytest.mark.parametrize("network", ["conv2", "conv3-bn", "mnist-conv", "downup"])
def test_conv_decoder_depends_on_z_at_initialization(network):
    # the symptom He init cures: with PyTorch's default init E[x | z] hardly moved with z (std 0.00075)
    decoder = DecoderNet(8, None, (1, 8, 8), network, channels=(16, 32)).eval()
    with torch.no_grad():
        logits = decoder(torch.randn(500, 8))
    assert logits.std(0).mean() > 0.1


def test_he_initialize_sets_the_variance_preserving_scale():
    from pyro_cvae.components.conv import he_initialize

    layers = he_initialize(torch.nn.Sequential(torch.nn.Conv2d(16, 64, 3), torch.nn.ConvTranspose2d(64, 256, 4, 2)))
    assert layers[0].weight.std().item() == pytest.approx(math.sqrt(2 / (16 * 9)), rel=0.05)
    assert layers[1].weight.std().item() == pytest.approx(math.sqrt(2 / (64 * 16 / 4)), rel=0.05)
    assert layers[0].bias.abs().max() == 0 and layers[1].bias.abs().max() == 0
