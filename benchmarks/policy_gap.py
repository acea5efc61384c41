"""Where a trained shift policy loses against the exact optimum, in $ per shift.

Performance difference at the exact shadow price λ*: over the states a policy
actually visits, V*(s0) - V^π(s0) = E_π[Σ_t (V*_t(s_t) - Q*_t(s_t, a_t))] for the
Lagrangian reward profit - λ*·(errors - e*·attempts). Each step's term is the exact
advantage the optimum has over the action taken (from the DP's value function), so
the sum splits the gap by dish type, backlog and time of the shift with nothing
estimated but the visitation (``--episodes`` deterministic episodes on fixed seeds).

It also says whether the actor or the critic is at fault, per dish type: the mean
learned and optimal actions over the visited states, and the critic's own view of
the step's choice, mean over visited states of Q̂(s, a) - Q̂(s, a*) (its Lagrangian
value at λ*, twin mean). A critic that ranks the learned action at or above the
optimum where the true advantage is large is the limit; a critic that ranks it
below means the actor has not followed it.

    python benchmarks/policy_gap.py runs/bench-state/seed0 --episodes 20 [--json]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _report import emit

from robolabor.envs.optimum import _grid_actions, _ShiftModel
from robolabor.experiments.runs import open_run, warn

BACKLOG_EDGES = (0, 3, 8, 15, 30, 60)


def optimal_values(model: _ShiftModel, lam: float) -> tuple[list[np.ndarray], np.ndarray]:
    """V*_t (B+1, K) of the Lagrangian reward for t = 0..T (V*_T = 0) and the DP's policy
    (T, K, B+1) of action ids on its grid."""
    values: list[np.ndarray] = []
    policy, _ = model.backward(lam, values)
    return values, policy


def advantage_gap(model: _ShiftModel, values: list[np.ndarray], lam: float, t: int, b: int,
                  k: int, action: np.ndarray) -> float:
    """V*_t(b, k) - Q*_t(b, k, action) for any action in [0, 1]^2 (not only grid points)."""
    pn, rewards = model.action_model(np.asarray(action, dtype=np.float64).reshape(1, 2))
    reward = model.lagrangian(rewards, lam)[k, b, 0]
    future = pn[k, b, 0] @ model.continuation(t, values[t + 1])[k, b]
    return float(values[t][b, k] - (reward + future))


@torch.no_grad()
def critic_value(agent, obs: np.ndarray, actions: np.ndarray, lam: float) -> np.ndarray:
    """The critic's Lagrangian value Q̂_r - λ·Q̂_c (twin mean) of each action at one state."""
    x = agent._prep(torch.as_tensor(obs, device=agent.device).unsqueeze(0), augment=False)
    agent.encoder.eval()
    z = agent.encoder(x).expand(len(actions), -1)
    a = torch.as_tensor(actions, dtype=torch.float32, device=agent.device)
    return agent._lagrangian(agent.critic(z, a).mean(0), lam).cpu().numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--seed", type=int, default=10_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    opened = open_run(args.run_dir)
    for message in opened.warnings:
        warn(message)
    cfg, agent = opened.cfg, opened.agent
    env = opened.make_env()
    shift = env.unwrapped
    if not hasattr(shift, "_backlog"):
        raise SystemExit(f"{cfg.env.id}: the gap decomposition needs the shift task")
    optimum = opened.optimum()
    lam = float(optimum["lambda_star"])
    model = _ShiftModel(shift.params, _grid_actions(41))
    values, policy = optimal_values(model, lam)

    names = [dt.name for dt in shift.params.dish_types]
    by_type = np.zeros(model.K)
    by_backlog = np.zeros(len(BACKLOG_EDGES))
    minutes_backlog = np.zeros(len(BACKLOG_EDGES))
    by_quarter = np.zeros(4)
    minutes_type = np.zeros(model.K)
    learned_sum, optimal_sum = np.zeros((model.K, 2)), np.zeros((model.K, 2))
    critic_diff = np.zeros(model.K)
    for ep in range(args.episodes):
        obs, _ = env.reset(seed=args.seed + ep)
        done = False
        while not done:
            t, b, k = shift._minute, shift._backlog, shift._type
            action = agent.act(obs, deterministic=True)
            gap = advantage_gap(model, values, lam, t, b, k, action) / args.episodes
            i = int(np.searchsorted(BACKLOG_EDGES, b, side="right") - 1)
            by_type[k] += gap
            by_backlog[i] += gap
            minutes_backlog[i] += 1.0 / args.episodes
            by_quarter[min(3, 4 * t // model.T)] += gap
            best = model.actions[policy[t, k, b]]
            q_learned, q_best = critic_value(agent, obs, np.stack([action, best]), lam)
            minutes_type[k] += 1
            learned_sum[k] += action
            optimal_sum[k] += best
            critic_diff[k] += q_learned - q_best
            obs, _, terminated, truncated, _ = env.step(action.astype(np.float32))
            done = terminated or truncated
    out = {
        "run_dir": str(opened.run.path), "episodes": args.episodes, "lambda_star": lam,
        "optimal_lagrangian_value": float(values[0][shift.params.initial_backlog]
                                          @ shift.params.type_shares),
        "gap_per_shift": float(by_type.sum()),
        "gap_by_type": dict(zip(names, by_type.round(4).tolist(), strict=True)),
        "gap_by_backlog": {f">={e}": float(g) for e, g in zip(BACKLOG_EDGES, by_backlog.round(4),
                                                               strict=True)},
        "minutes_by_backlog": {f">={e}": float(m) for e, m in
                               zip(BACKLOG_EDGES, minutes_backlog.round(2), strict=True)},
        "gap_by_quarter": by_quarter.round(4).tolist(),
        "by_type": {name: {
            "minutes_per_shift": round(float(minutes_type[k] / args.episodes), 2),
            "mean_learned_action": (learned_sum[k] / max(minutes_type[k], 1)).round(3).tolist(),
            "mean_optimal_action": (optimal_sum[k] / max(minutes_type[k], 1)).round(3).tolist(),
            "true_advantage_per_minute": round(float(by_type[k] * args.episodes
                                                     / max(minutes_type[k], 1)), 4),
            "critic_learned_minus_optimal": round(float(critic_diff[k]
                                                        / max(minutes_type[k], 1)), 4),
        } for k, name in enumerate(names)},
    }
    emit(out, args.json)


if __name__ == "__main__":
    main()
