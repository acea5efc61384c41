"""Dual ascent on λ: up while the SLA is violated, down to 0 with slack, at a usable scale."""

import pytest

from robolabor.agents.constraint import LagrangeConfig, LagrangeMultiplier
from robolabor.schema import ConfigError


def test_lambda_rises_while_violating_and_falls_to_zero_with_slack():
    lm = LagrangeMultiplier(LagrangeConfig(lr=0.01), sla=0.05)
    lams = [lm.update(errors=8, attempts=100) for _ in range(300)]   # 8% vs 5%: v = 0.6
    assert all(b > a for a, b in zip(lams, lams[1:], strict=False))
    assert lams[-1] == pytest.approx(300 * 0.01 * 0.6)   # ~$1.8 after 300 episodes
    for _ in range(1000):
        lam = lm.update(errors=2, attempts=100)
    assert lam == 0.0
    assert lm.update(errors=0, attempts=0) == 0.0        # nothing attempted: no signal


def test_lambda_is_bounded_and_step_is_clipped():
    lm = LagrangeMultiplier(LagrangeConfig(lr=0.5, max=1.2), sla=0.05)
    assert lm.update(100, 100) == 0.5                     # relative violation clipped to 1
    for _ in range(5):
        lam = lm.update(100, 100)
    assert lam == 1.2


def test_ema_damps_the_violation():
    raw = LagrangeMultiplier(LagrangeConfig(lr=0.1), sla=0.1)
    smooth = LagrangeMultiplier(LagrangeConfig(lr=0.1, ema=0.9), sla=0.1)
    for lm in (raw, smooth):
        lm.update(10, 100)         # on the SLA
        lm.update(20, 100)         # one bad episode
    assert 0 < smooth.lam < raw.lam


def test_proportional_term_answers_at_once_and_vanishes_on_the_sla():
    pi = LagrangeMultiplier(LagrangeConfig(lr=0.01, kp=0.5), sla=0.1)
    assert pi.update(15, 100) == pytest.approx(0.01 * 0.5 + 0.5 * 0.5)   # v = 0.5
    assert pi.integral == pytest.approx(0.005)
    assert pi.update(10, 100) == pytest.approx(0.005)     # on the SLA: λ = λ_I
    assert pi.update(5, 100) == 0.0                       # slack: clipped at 0
    assert pi.integral == 0.0                             # 0.005 - 0.005
    other = LagrangeMultiplier(LagrangeConfig(lr=0.01, kp=0.5), sla=0.1)
    other.load_state_dict(pi.state_dict())
    assert other.update(13, 100) == pi.update(13, 100)


def test_cost_signal_state_roundtrip_and_errors():
    lm = LagrangeMultiplier(LagrangeConfig(lr=0.02), sla=0.06)   # SLA from the env
    assert lm.cost(errors=3, attempts=40) == pytest.approx(3 - 0.06 * 40)
    for _ in range(7):
        lm.update(5, 40)
    other = LagrangeMultiplier(LagrangeConfig(lr=0.02), sla=0.06)
    other.load_state_dict(lm.state_dict())
    assert other.update(5, 40) == lm.update(5, 40)
    with pytest.raises(ValueError, match="SLA"):
        LagrangeMultiplier(LagrangeConfig(), sla=0.1).load_state_dict(lm.state_dict())
    with pytest.raises(ConfigError, match="SLA"):
        LagrangeMultiplier(LagrangeConfig())
    with pytest.raises(ValueError, match="errors"):
        lm.update(errors=5, attempts=3)
    with pytest.raises(ConfigError, match="init"):
        LagrangeMultiplier(LagrangeConfig(init=5.0, max=1.0), sla=0.1)


def test_margin_is_relative_to_the_environments_sla():
    """The dual target follows the task's SLA: 2.5% under 0.04 is 0.039, under 0.02 is 0.0195."""
    cfg = LagrangeConfig(margin=0.025)
    assert LagrangeMultiplier(cfg, sla=0.04).sla == pytest.approx(0.039)
    tight = LagrangeMultiplier(cfg, sla=0.02)
    assert tight.sla == pytest.approx(0.0195)
    assert tight.cost(errors=1, attempts=100) == pytest.approx(1 - 1.95)
    # at the SLA itself the learner still sees a violation of margin/(1-margin)
    assert tight.update(errors=2, attempts=100) > 0.0


@pytest.mark.parametrize("lam_star", [0.4, 3.0])
def test_relative_step_reaches_a_large_multiplier_in_as_many_episodes(lam_star):
    """With lr_rel, λ grows geometrically: the episodes needed to travel from 0 to λ* grow
    with log(λ*), with the fixed step they grow with λ* itself."""
    def episodes_to(cfg):
        lm = LagrangeMultiplier(cfg, sla=0.05)
        for n in range(1, 10_000):
            if lm.update(errors=7, attempts=100) >= lam_star:   # v = 0.4 every episode
                return n
        return None
    fixed = episodes_to(LagrangeConfig(lr=0.02))
    scaled = episodes_to(LagrangeConfig(lr=0.02, lr_rel=0.1))
    assert fixed == pytest.approx(lam_star / (0.02 * 0.4), abs=1)
    assert scaled < fixed
    if lam_star > 1:
        assert scaled < fixed / 4
