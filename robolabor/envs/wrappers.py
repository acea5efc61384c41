"""Wrappers that let other learners train on robolabor tasks."""

from __future__ import annotations

import gymnasium as gym


class FixedLagrangianReward(gym.Wrapper):
    """reward ← profit − λ·(errors − e*·attempts) with λ fixed.

    The Lagrangian reward our own agent builds with a learned λ, for learners that only
    see the env's reward (e.g. Stable-Baselines3 in the side-by-side benchmarks): with
    λ = λ* every learner faces the same unconstrained problem whose optimum meets the SLA.
    """

    def __init__(self, env: gym.Env, lam: float) -> None:
        super().__init__(env)
        if lam < 0:
            raise ValueError(f"λ must be >= 0, got {lam}")
        self.lam, self.sla = float(lam), float(env.unwrapped.sla)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        cost = float(info["broken"]) - self.sla * float(info["attempts"])
        return obs, float(reward) - self.lam * cost, terminated, truncated, info
