"""What common random numbers buy: the variance of a paired policy difference.

Two neighbouring policies, as two checkpoints of one run are (the exact optimal policy
and the same policy with ``--care-shift`` more care), are run on the same N episode
seeds and their per-episode profit differences are compared three ways:

* ``crn``: today's environment (one generator per noise source, exogenous draws fixed
  at reset, attempts and breakage coupled draw for draw);
* ``single_stream``: the environment's previous draw order, every draw from one
  generator in an order that depends on the actions (reproduced here as a subclass),
  so the two policies drift onto different arrivals within minutes;
* ``independent``: each policy on its own seeds (no pairing at all).

Reported: the variance of the paired difference of episode profits for each, the
ratios to ``crn``, and the agreement of arrivals between the two policies.

    python benchmarks/crn_variance.py --episodes 400 --json
"""

from __future__ import annotations

import argparse

import numpy as np
from _report import emit

from robolabor.envs.optimum import optimum_for_env
from robolabor.envs.shift import DishwashingShiftEnv


class SingleStreamShiftEnv(DishwashingShiftEnv):
    """The shift task with its previous draw order: one generator, action-dependent order."""

    def step(self, action):
        self._check_running()
        speed, care = self._clip_action(action)
        p, rng = self.params, self.np_random
        k, t, b = self._type, self._minute, self._backlog
        rate, perr = self.rates(speed, care)
        n = min(int(rng.poisson(rate[k])), b, p.max_attempts_per_minute)
        broken = int(rng.binomial(n, perr[k])) if n > 0 else 0
        arrivals = int(rng.poisson(self._arrival[t]))
        backlog = b - n + arrivals
        self._backlog = min(backlog, p.rack_capacity)
        self._type = min(int(np.searchsorted(self._cum_trans[k], rng.random(), side="right")),
                         self.n_types - 1)
        self._minute, self._errors, self._attempts = t + 1, self._errors + broken, \
            self._attempts + n
        profit = self._price[k] * (n - broken) - self._damage[k] * broken - self._op_cost
        self._done = self._minute >= self.horizon
        return self._obs(), float(profit), self._done, False, {"arrivals": arrivals}


def episode_profits(env, policy, seeds) -> tuple[np.ndarray, list[list[int]]]:
    profits, arrivals = [], []
    for seed in seeds:
        env.reset(seed=int(seed))
        total, arr, done = 0.0, [], False
        while not done:
            _, r, done, _, info = env.step(policy(env))
            total += r
            arr.append(info["arrivals"])
        profits.append(total)
        arrivals.append(arr)
    return np.array(profits), arrivals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1_000_000)
    ap.add_argument("--care-shift", type=float, default=0.1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    opt = optimum_for_env("robolabor/DishwashingShift-v0")

    def base(env):
        return opt.action(env.state)

    def other(env):
        a = opt.action(env.state)
        return np.array([a[0], min(1.0, a[1] + args.care_shift)], dtype=np.float32)

    seeds = np.arange(args.seed, args.seed + args.episodes)
    result = {"episodes": args.episodes, "first_seed": args.seed,
              "policies": f"exact optimum vs the same with care + {args.care_shift}"}
    for name, cls in (("crn", DishwashingShiftEnv), ("single_stream", SingleStreamShiftEnv)):
        pa, arr_a = episode_profits(cls(), base, seeds)
        pb, arr_b = episode_profits(cls(), other, seeds)
        d = pa - pb
        result[f"{name}_mean_diff"] = float(d.mean())
        result[f"{name}_var_diff"] = float(d.var(ddof=1))
        result[f"{name}_arrivals_agree"] = float(np.mean(np.array(arr_a) == np.array(arr_b)))
    pb_ind, _ = episode_profits(DishwashingShiftEnv(), other, seeds + args.episodes)
    pa, _ = episode_profits(DishwashingShiftEnv(), base, seeds)
    result["independent_var_diff"] = float((pa - pb_ind).var(ddof=1))
    for name in ("single_stream", "independent"):
        result[f"{name}_over_crn"] = result[f"{name}_var_diff"] / result["crn_var_diff"]
    emit(result, args.json)


if __name__ == "__main__":
    main()
