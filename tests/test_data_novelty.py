"""Latent novelty detectors and their metrics (tiny models, seconds on CPU)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robolabor.data.novelty import (
    METHODS,
    DiffusionConfig,
    DiffusionNovelty,
    auroc,
    build_detector,
    cosine_alpha_bar,
    encode_observations,
    fpr_at_tpr,
)
from robolabor.errors import UserError

TINY = dict(train_iters=400, hidden=64, batch_size=256)


def cloud(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """A 2-d manifold curled into 8 dimensions (a latent-like thin cloud)."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(n, 2))
    a = np.random.default_rng(123).normal(size=(2, 8))
    z = np.tanh(u @ a + shift * np.linspace(1, -1, 8))
    return (z + 0.01 * rng.normal(size=z.shape)).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    return {"fit": cloud(3000, 0), "id": cloud(400, 1), "ood": cloud(400, 2, shift=0.8)}


@pytest.mark.parametrize("method", METHODS)
def test_every_method_scores_a_shifted_cloud_higher(method, data):
    kwargs = TINY if method == "diffusion" else ({"train_iters": 400} if method == "rnd" else {})
    det = build_detector(method, seed=0, **kwargs).fit(data["fit"])
    s_in, s_out = det.score(data["id"]), det.score(data["ood"])
    assert s_in.shape == (400,) and np.isfinite(s_in).all()
    assert auroc(s_in, s_out) > 0.9


def test_diffusion_is_standardised_on_held_out_latents(data):
    det = DiffusionNovelty(DiffusionConfig(seed=0, **TINY)).fit(data["fit"])
    s = det.score(cloud(2000, 5))
    assert abs(float(np.mean(s))) < 0.5            # in-distribution: about 0
    assert det.score(data["ood"]).mean() > 2.0     # novel: several standard deviations
    assert det.k <= 8


def test_diffusion_scores_are_reproducible(data):
    det = DiffusionNovelty(DiffusionConfig(seed=0, **TINY)).fit(data["fit"])
    np.testing.assert_array_equal(det.score(data["id"]), det.score(data["id"]))
    again = DiffusionNovelty(DiffusionConfig(seed=0, **TINY)).fit(data["fit"])
    np.testing.assert_allclose(det.score(data["id"]), again.score(data["id"]), rtol=1e-5,
                               atol=1e-5)


def test_a_diffusion_score_does_not_depend_on_the_batch_size(data):
    """Latent i meets noise row i mod NOISE_ROWS whatever the batches: 1,300 latents
    scored in batches that do and do not line up with the 512 noise rows agree."""
    det = DiffusionNovelty(DiffusionConfig(seed=0, noise="sampled", **TINY)).fit(data["fit"])
    z = cloud(1300, 7)
    ref = det.score(z)
    for batch in (100, 512, 700, 4096):
        np.testing.assert_allclose(det.score(z, batch_size=batch), ref, rtol=1e-5, atol=1e-5)
    assert not np.allclose(det.score(z[1:]), ref[1:], atol=1e-3)  # a row shift: other noise


def test_noise_free_score_is_deterministic_per_latent_and_separates(data):
    """noise="none" scores ||ε_θ(√ᾱ·x0, t)||²: a latent's score is its own, whatever
    else is in the batch or where it sits, and a shifted cloud still scores higher."""
    det = DiffusionNovelty(DiffusionConfig(seed=0, noise="sampled", **TINY)).fit(data["fit"])
    clean = det.rescored(noise="none")
    assert clean.cfg.noise == "none" and det.cfg.noise == "sampled"
    assert DiffusionConfig().noise == "none"                # the default since §9.1
    z = cloud(1300, 7)
    ref = clean.score(z)
    np.testing.assert_allclose(clean.score(z[1:]), ref[1:], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(clean.score(z[::-1], batch_size=100), ref[::-1], rtol=1e-5,
                               atol=1e-5)
    assert abs(float(clean.score(cloud(2000, 5)).mean())) < 0.5
    assert auroc(clean.score(data["id"]), clean.score(data["ood"])) > 0.9
    with pytest.raises(UserError, match="noise must be"):
        DiffusionConfig(noise="antithetic")
    one = clean.rescored(levels=(1,))                         # fewer levels, same network
    assert one.raw_scores(z[:10]).shape[1] == clean.raw_scores(z[:10]).shape[1] - 2


def test_noise_schedule_decreases_from_one():
    ab = cosine_alpha_bar(100)
    assert ab.shape == (100,) and 0.99 < ab[0] < 1 and ab[-1] < 0.01
    assert np.all(np.diff(ab) < 0)


def test_bad_latents_are_one_line_errors(data):
    det = build_detector("mahalanobis").fit(data["fit"])
    with pytest.raises(UserError, match="fitted on 8-d"):
        det.score(np.zeros((3, 5)))
    bad = data["id"].copy()
    bad[0, 0] = np.nan
    with pytest.raises(UserError, match="NaN"):
        det.score(bad)
    with pytest.raises(UserError, match="unknown"):
        build_detector("lof")
    with pytest.raises(UserError, match="levels"):
        DiffusionConfig(levels=(0,))


def test_auroc_and_fpr_on_known_cases():
    assert auroc([0, 1, 2], [3, 4]) == 1.0
    assert auroc([3, 4], [0, 1, 2]) == 0.0
    assert auroc([1, 1], [1, 1]) == 0.5
    # OOD 0..99: the threshold that flags 95 of them is 5; ID scores >= 5 are 6, 7 of 8
    assert fpr_at_tpr(np.array([0, 1, 2, 3, 4, 5.5, 6, 7]), np.arange(100.0)) == 3 / 8


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=1, max_size=30),
       st.lists(st.floats(-5, 5), min_size=1, max_size=30))
def test_auroc_is_antisymmetric(a, b):
    assert auroc(a, b) + auroc(b, a) == pytest.approx(1.0)
    assert 0.0 <= fpr_at_tpr(a, b) <= 1.0


def test_encode_observations_uses_the_agent_encoder():
    from robolabor.agents.encoders import EncoderConfig
    from robolabor.agents.sac import SAC, SACConfig

    agent = SAC(obs_shape=(10,), obs_dtype=np.float32, action_dim=2,
                sac_cfg=SACConfig(hidden_sizes=(16, 16)),
                encoder_cfg=EncoderConfig(latent_dim=12, hidden_dim=16), seed=0)
    obs = np.random.default_rng(0).random((7, 10)).astype(np.float32)
    z = encode_observations(agent, obs, batch_size=3)
    assert z.shape == (7, 12) and np.all(np.abs(z) <= 1)  # tanh-bounded latents
