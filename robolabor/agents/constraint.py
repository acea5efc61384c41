"""The quality constraint: dual ascent on the Lagrange multiplier λ of the error SLA.

The agent maximises ``profit - λ·(errors - e*·attempts)`` per step; λ ($ per
broken unit beyond the SLA) is raised while the policy breaks more than
``e*`` of its attempts and lowered (to 0 at most) while it has slack.

The target: ``e_t = e*·(1 - margin)``, a fraction ``margin`` under the environment's
SLA e* (a relative safety margin, so changing the task's SLA moves the target with
it; evaluations are always judged against e* itself).

Scale (why the prototype's λ never moved): the dual step uses the episode's
RELATIVE violation ``v = (errors/attempts - e_t) / e_t``, clipped to [-1, 1], so
one episode moves λ by at most ``lr + lr_rel·λ`` dollars whatever the shift length
or the SLA level. ``lr`` is an absolute floor (λ can leave 0); ``lr_rel`` makes the
step proportional to the multiplier's own size, so λ travels geometrically: a task
whose λ* is 2 or 3 (a tight SLA) is reached in as many episodes as one whose λ* is
0.4, where a fixed step would need five times as many.
Dual ascent already averages noise (λ integrates v); ``ema > 0`` additionally
smooths v across episodes at the cost of some lag. ``kp > 0`` adds a proportional
term (a PI controller on v): λ = λ_I + kp·v, where λ_I is the integral above, so a
violation is answered at once and the integral need not overshoot (off by default:
in the probes of BENCHMARKS.md §1 it did not beat plain dual ascent on the shift task).

Which errors are measured (the trainer decides, from this config): never those of
episodes begun in the uniform-random warm-up (they are not the policy's), and with
``measure_every = k > 1`` only every k-th episode's, acted deterministically. The
exploring policy breaks more than the deterministic one that is deployed and
scored (measured on the shift task: 0.043-0.045 against 0.040), so a λ driven by
exploring episodes keeps rising after the deployed policy meets the SLA and makes
it needlessly careful.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robolabor.schema import ConfigError, spec


@dataclass(frozen=True)
class LagrangeConfig:
    margin: float = spec(0.0, lo=0.0, hi=0.5,
                         doc="safety margin: λ steers the error rate to e*·(1 - margin), a "
                             "fraction under the environment's SLA e* (evaluations are "
                             "judged against e* itself)")
    lr: float = spec(0.02, lo=0.0, doc="dual step: $ of λ per measured episode of full "
                                      "relative violation (clipped to ±1)")
    lr_rel: float = spec(0.0, lo=0.0, hi=1.0,
                         doc="dual step proportional to λ: each measured episode moves λ "
                             "by v·(lr + lr_rel·λ), so λ scales geometrically to large λ*")
    init: float = spec(0.0, lo=0.0, doc="initial λ ($ per broken unit)")
    max: float = spec(100.0, lo=0.0, doc="upper bound on λ ($ per broken unit)")
    ema: float = spec(0.0, lo=0.0, hi=1.0, hi_open=True,
                      doc="EMA factor on the violation (0 = use each episode's own)")
    kp: float = spec(0.0, lo=0.0,
                     doc="proportional gain (PI control): λ = λ_I + kp·v with λ_I the "
                         "integral above; it answers a violation at once and vanishes "
                         "as v -> 0, so λ_I need not overshoot (0 = pure dual ascent)")
    measure_every: int = spec(2, lo=1,
                              doc="1 = every training episode moves λ (measured on the "
                                  "exploring policy); k > 1 = every k-th training episode "
                                  "is acted deterministically (the policy that is deployed "
                                  "and scored) and only those move λ; they are training "
                                  "data too and count as env steps")


class LagrangeMultiplier:
    """λ ≥ 0 updated once per episode from the episode's totals."""

    def __init__(self, cfg: LagrangeConfig | None = None, sla: float | None = None) -> None:
        self.cfg = cfg or LagrangeConfig()
        if sla is None or not 0.0 < sla <= 1.0:
            raise ConfigError(f"the environment's SLA must be in (0, 1] for the dual "
                              f"target, got {sla!r}")
        if self.cfg.init > self.cfg.max:
            raise ConfigError(f"lagrange.init ({self.cfg.init}) exceeds lagrange.max "
                              f"({self.cfg.max})")
        self.sla = float(sla) * (1.0 - self.cfg.margin)  # the dual target e_t
        self.lam = float(self.cfg.init)
        self.integral = float(self.cfg.init)  # λ_I; λ = λ_I when kp = 0
        self.violation = 0.0      # last (smoothed) relative violation used in a step
        self.num_updates = 0

    def cost(self, errors: float, attempts: float) -> float:
        """The step/episode constraint signal kept in replay: errors - e_t·attempts."""
        return float(errors) - self.sla * float(attempts)

    def update(self, errors: float, attempts: float) -> float:
        """One dual-ascent (PI when kp > 0) step from an episode's totals; returns λ."""
        errors, attempts = float(errors), float(attempts)
        if not (np.isfinite(errors) and np.isfinite(attempts)) or errors < 0 or attempts < 0 \
                or errors > attempts:
            raise ValueError(f"episode totals must satisfy 0 <= errors <= attempts, got "
                             f"errors={errors}, attempts={attempts}")
        v = 0.0 if attempts == 0 else float(np.clip((errors / attempts - self.sla) / self.sla,
                                                    -1.0, 1.0))
        b = self.cfg.ema
        self.violation = v if (b == 0.0 or self.num_updates == 0) else b * self.violation + \
            (1.0 - b) * v
        step = self.cfg.lr + self.cfg.lr_rel * self.integral
        self.integral = float(np.clip(self.integral + step * self.violation, 0.0,
                                      self.cfg.max))
        self.lam = float(np.clip(self.integral + self.cfg.kp * self.violation, 0.0,
                                 self.cfg.max))
        self.num_updates += 1
        return self.lam

    def state_dict(self) -> dict[str, float | int]:
        return {"lam": self.lam, "integral": self.integral, "violation": self.violation,
                "num_updates": self.num_updates, "sla": self.sla}

    def load_state_dict(self, state: dict) -> None:
        if abs(float(state["sla"]) - self.sla) > 1e-12:
            raise ValueError(f"λ state was saved for SLA {float(state['sla'])}, this run uses "
                             f"{self.sla}")
        self.lam = float(state["lam"])
        self.integral = float(state.get("integral", state["lam"]))
        self.violation = float(state["violation"])
        self.num_updates = int(state["num_updates"])
