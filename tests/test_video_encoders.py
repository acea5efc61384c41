"""Video encoders: shapes, gradients (the prototype's never trained), R3D-18 layout and weights."""

import pytest
import torch

from robolabor.agents.video_encoders import (
    ENCODER_TYPES,
    R3D18,
    R3D18_BACKBONE_PARAMS,
    FrozenEncoder,
    R3D18Encoder,
    build_video_encoder,
    list_encoders,
)
from robolabor.schema import ConfigError

torch.set_num_threads(1)
SMALL = (4, 3, 32, 32)  # (T, C, H, W): keeps every test to about a second on one core


def n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("kind", ENCODER_TYPES)
def test_output_shape_and_attributes(kind):
    torch.manual_seed(0)
    enc = build_video_encoder({"type": kind, "latent_dim": 16}, SMALL)
    assert enc.is_image is True and enc.latent_dim == 16
    z = enc(torch.rand(2, *SMALL))
    assert z.shape == (2, 16) and torch.isfinite(z).all()
    # uint8 frames are accepted too and mean the same as /255
    x8 = torch.randint(0, 256, (2, *SMALL), dtype=torch.uint8)
    enc.eval()
    assert torch.allclose(enc(x8), enc(x8.float() / 255), atol=1e-5)


@pytest.mark.parametrize("kind", ENCODER_TYPES)
def test_gradients_train_every_encoder(kind):
    torch.manual_seed(0)
    enc = build_video_encoder({"type": kind, "latent_dim": 8}, SMALL)
    enc.train()
    before = {k: v.detach().clone() for k, v in enc.named_parameters()}
    opt = torch.optim.SGD(enc.parameters(), lr=0.1)
    target = torch.randn(2, 8)
    loss = (enc(torch.rand(2, *SMALL)) - target).square().mean()
    loss.backward()
    no_grad = [k for k, p in enc.named_parameters() if p.grad is None]
    assert not no_grad, no_grad
    opt.step()
    first = next(iter(before))  # the first conv layer
    assert not torch.equal(before[first], dict(enc.named_parameters())[first])
    changed = sum(not torch.equal(before[k], p) for k, p in enc.named_parameters())
    assert changed >= 0.9 * len(before)


@pytest.mark.parametrize("kind", ["pixel", "r3d18"])
def test_frozen_encoder_gets_no_gradient_and_caches(kind):
    enc = build_video_encoder({"type": kind, "latent_dim": 8, "freeze": True,
                               "feature_cache": 16}, SMALL)
    assert isinstance(enc, FrozenEncoder) and enc.is_image
    assert not any(p.requires_grad for p in enc.parameters())
    head = torch.nn.Linear(8, 1)
    x = torch.rand(3, *SMALL)
    z = enc(x)
    assert not z.requires_grad
    head(z).sum().backward()
    assert head.weight.grad is not None
    assert all(p.grad is None for p in enc.parameters())
    enc.train()
    assert not enc.encoder.training
    z2 = enc(torch.cat([x[:2], torch.rand(1, *SMALL)]))
    assert enc.hits == 2 and enc.misses == 4
    assert torch.equal(z2[:2], z[:2])


def test_r3d18_parameter_count_and_torchvision_key_names():
    net = R3D18()
    assert n_params(net) == R3D18_BACKBONE_PARAMS == 33_166_272
    assert n_params(R3D18(num_classes=400)) == 33_371_472
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    expected = ["stem.0.weight"] + [f"stem.1.{s}" for s in bn]
    for k in range(1, 5):
        for b in range(2):
            p = f"layer{k}.{b}"
            expected += [f"{p}.conv1.0.weight"] + [f"{p}.conv1.1.{s}" for s in bn]
            expected += [f"{p}.conv2.0.weight"] + [f"{p}.conv2.1.{s}" for s in bn]
            if k > 1 and b == 0:
                expected += [f"{p}.downsample.0.weight"] + [f"{p}.downsample.1.{s}" for s in bn]
    assert list(net.state_dict()) == expected
    assert list(R3D18(400).state_dict())[-2:] == ["fc.weight", "fc.bias"]
    assert net.stem[0].weight.shape == (64, 3, 3, 7, 7)
    assert net.layer4[0].downsample[0].weight.shape == (512, 256, 1, 1, 1)


def test_r3d18_batchnorm_stays_in_eval_mode():
    enc = R3D18Encoder(SMALL, latent_dim=8)
    enc.train()
    assert enc.training and not any(m.training for m in enc.backbone.modules())
    stats = enc.backbone.stem[1].running_mean.clone()
    enc(torch.rand(2, *SMALL))
    assert torch.equal(stats, enc.backbone.stem[1].running_mean)


@pytest.fixture(scope="module")
def r3d18_file(tmp_path_factory):
    """A random torchvision-layout state dict, 400-class fc included (to be ignored)."""
    torch.manual_seed(1)
    sd = R3D18(num_classes=400).state_dict()
    for v in sd.values():
        if v.is_floating_point():
            v.normal_()
    path = tmp_path_factory.mktemp("w") / "r3d18.pth"
    torch.save(sd, path)
    return path, sd


def test_r3d18_weights_round_trip(r3d18_file):
    path, sd = r3d18_file
    enc = build_video_encoder({"type": "r3d18", "weights_path": str(path)}, SMALL)
    for k, v in enc.backbone.state_dict().items():
        assert torch.equal(v, sd[k]), k


def test_weights_error_cases(tmp_path):
    cfg = {"type": "r3d18"}
    with pytest.raises(ConfigError, match="file not found"):
        build_video_encoder({**cfg, "weights_path": str(tmp_path / "nope.pth")}, SMALL)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(ConfigError, match="cannot be read"):
        build_video_encoder({**cfg, "weights_path": str(garbage)}, SMALL)
    not_dict = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), not_dict)
    with pytest.raises(ConfigError, match="expected a state dict"):
        build_video_encoder({**cfg, "weights_path": str(not_dict)}, SMALL)
    wrong = tmp_path / "wrong.pth"
    torch.save({"stem.0.weight": torch.zeros(64, 3, 1, 7, 7), "head.weight": torch.zeros(2)}, wrong)
    with pytest.raises(ConfigError) as err:
        build_video_encoder({**cfg, "weights_path": str(wrong)}, SMALL)
    msg = str(err.value)
    assert "missing keys" in msg and "unexpected keys: head.weight" in msg
    assert "stem.0.weight: file (64, 3, 1, 7, 7) vs model (64, 3, 3, 7, 7)" in msg


def test_truncated_and_nan_weights(tmp_path):
    enc = build_video_encoder({"type": "cnn2d", "latent_dim": 8}, SMALL)
    good = tmp_path / "cnn2d.pth"
    torch.save(enc.state_dict(), good)
    again = build_video_encoder({"type": "cnn2d", "latent_dim": 8, "weights_path": str(good)},
                                SMALL)
    assert all(torch.equal(a, b) for a, b in zip(enc.state_dict().values(),
                                                 again.state_dict().values(), strict=True))
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ConfigError, match="cannot be read"):
        build_video_encoder({"type": "cnn2d", "latent_dim": 8, "weights_path": str(cut)}, SMALL)
    sd = enc.state_dict()
    next(iter(sd.values()))[0] = float("nan")
    nan = tmp_path / "nan.pth"
    torch.save(sd, nan)
    with pytest.raises(ConfigError, match="NaN"):
        build_video_encoder({"type": "cnn2d", "latent_dim": 8, "weights_path": str(nan)}, SMALL)


def test_builder_rejects_bad_config():
    with pytest.raises(ConfigError, match="unknown video encoder"):
        build_video_encoder({"type": "vit"}, SMALL)
    with pytest.raises(ConfigError, match="state vectors"):
        build_video_encoder({"type": "mlp"}, SMALL)
    with pytest.raises(ConfigError, match="encoder.frames"):
        build_video_encoder({"type": "pixel", "frames": 8}, SMALL)
    with pytest.raises(ConfigError, match="encoder.channels"):
        build_video_encoder({"type": "pixel", "channels": 1}, SMALL)


def test_fewer_frames_look_at_the_newest():
    enc = build_video_encoder({"type": "pixel", "frames": 2, "latent_dim": 8}, SMALL)
    x = torch.rand(1, *SMALL)
    y = x.clone()
    y[:, :2] = torch.rand(1, 2, *SMALL[1:])  # change only the two oldest frames
    assert torch.equal(enc(x), enc(y))


def test_list_encoders_small():
    rows = list_encoders(obs_shape=(2, 3, 32, 32), batch=4, repeats=1, r3d18_cpu_batch=1)
    assert [r["name"] for r in rows] == list(ENCODER_TYPES)
    for r in rows:
        assert r["params"] > 0 and r["forward_ms"] > 0 and r["forward_backward_ms"] > 0
    r3d = rows[-1]
    assert r3d["batch"] == 1 and "reduced" in r3d["note"]
