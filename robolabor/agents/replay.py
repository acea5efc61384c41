"""Uniform ring-buffer replay in numpy, with frame-stack storage for video.

Why a frame store: an (8, 3, 64, 64) uint8 stack is 98 KB, so keeping obs and
next_obs as stacks costs 19.7 GB per 100k transitions. With ``frame_stack=T``
each frame is stored once (the newest frame of every step, plus the first stack
of each episode without its padding) and stacks are rebuilt by index when
sampled: about 1.3 GB per 100k transitions.

Stacks never cross an episode boundary: frame ids are clamped to the first
stored frame of their episode, which reproduces an env frame stack that starts
by repeating its reset frame. Leading repeats of a first stack are stored once,
so that clamp rebuilds them exactly; any other first stack is stored whole.

``terminated`` and ``truncated`` are kept apart (only termination stops
bootstrapping), and ``cost`` (errors - e*·attempts of the step) is kept apart
from ``reward`` so the Lagrangian reward uses the current λ at sampling time.

Prioritised sampling (``enable_priorities``, off by default): a sum tree over the
slots (``agents.priority``) draws transition i with P(i) = p_i / Σp and the batch
carries importance weights (N·P)^-β / max w for the critic loss. The priorities come
from outside (``set_novelty``: the experiments layer scores latents with the novelty
model; this module knows nothing of it); a new transition gets the largest priority
set so far, so it is seen before it is scored.
"""

from __future__ import annotations

import numpy as np
import torch

from robolabor.agents.priority import SumTree, importance_weights, novelty_priorities
from robolabor.agents.replay_config import ReplayConfig  # noqa: F401  (re-exported)

_MASK64 = (1 << 64) - 1
_SCALARS = ("reward", "cost", "terminated", "truncated")


class ReplayBuffer:
    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype: np.dtype | type | str,
                 action_dim: int, frame_stack: int | None = None, seed: int = 0) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.obs_shape = tuple(int(d) for d in obs_shape)
        self.obs_dtype = np.dtype(obs_dtype)
        self.action_dim = int(action_dim)
        self.frame_stack = frame_stack
        self.rng = np.random.default_rng(seed)
        n = self.capacity
        self.action = np.zeros((n, action_dim), np.float32)
        self.reward = np.zeros(n, np.float32)
        self.cost = np.zeros(n, np.float32)
        self.terminated = np.zeros(n, np.bool_)
        self.truncated = np.zeros(n, np.bool_)
        self.added = 0    # transitions ever added; transition id i lives in slot i % capacity
        self.oldest = 0   # id of the oldest transition still sampleable
        if frame_stack is None:
            self.obs = np.zeros((n, *self.obs_shape), self.obs_dtype)
            self.next_obs = np.zeros((n, *self.obs_shape), self.obs_dtype)
            return
        if len(self.obs_shape) < 2 or self.obs_shape[0] != frame_stack:
            raise ValueError(f"frame_stack={frame_stack} needs observations shaped "
                             f"({frame_stack}, ...), got {self.obs_shape}")
        # Room for one frame per transition plus ~6% for the first stacks of episodes.
        self.frame_capacity = n + n // 16 + frame_stack + 1
        self.frames = np.zeros((self.frame_capacity, *self.obs_shape[1:]), self.obs_dtype)
        self.frames_added = 0                        # global frame id of the next frame
        self.obs_last = np.zeros(n, np.int64)        # frame id of the newest frame of obs
        self.ep_start = np.zeros(n, np.int64)        # frame id of the episode's first frame
        self._ep_first = 0
        self._prev_next: np.ndarray | None = None    # next_obs of the last add if not done
        self._offsets = np.arange(-frame_stack + 1, 2)  # obs frames + the next frame

    # ------------------------------------------------------------- priorities
    tree: SumTree | None = None

    def enable_priorities(self, alpha: float, eps: float, min_priority: float) -> None:
        """Sample by priority from now on (an empty buffer; call before the first add)."""
        if self.added:
            raise RuntimeError("enable_priorities must be called on an empty buffer")
        self.tree = SumTree(self.capacity)
        self.prio = (float(eps), float(alpha), float(min_priority))  # novelty_priorities'
        self.max_priority = novelty_priorities(0.0, eps, alpha, min_priority).item()
        self._prio_oldest = 0  # ids below it have had their priority zeroed

    def set_novelty(self, ids: np.ndarray, novelty: np.ndarray) -> None:
        """Priorities of transitions ``ids`` from their novelty (a standardised score)."""
        ids = np.asarray(ids, np.int64)
        if ids.size and (ids.min() < self.oldest or ids.max() >= self.added):
            raise IndexError("set_novelty: ids outside the sampleable range")
        p = novelty_priorities(novelty, *self.prio)
        self.tree.update(ids % self.capacity, p)
        if p.size:
            self.max_priority = max(self.max_priority, float(p.max()))

    def live_ids(self) -> np.ndarray:
        """The ids of every sampleable transition, oldest first."""
        return np.arange(self.oldest, self.added)

    def _sync_priorities(self) -> None:
        """Zero the slots of transitions that fell out, then prioritise the newest."""
        if self.oldest > self._prio_oldest:
            gone = np.arange(self._prio_oldest, self.oldest)[-self.capacity:]
            self.tree.update(gone % self.capacity, 0.0)
            self._prio_oldest = self.oldest
        self.tree.update([(self.added - 1) % self.capacity], self.max_priority)

    def __len__(self) -> int:
        return self.added - self.oldest

    @property
    def nbytes(self) -> int:
        """Bytes held by the storage arrays (allocated up front for the full capacity)."""
        arrays = [self.action, self.reward, self.cost, self.terminated, self.truncated]
        if self.frame_stack is None:
            arrays += [self.obs, self.next_obs]
        else:
            arrays += [self.frames, self.obs_last, self.ep_start]
        return int(sum(a.nbytes for a in arrays))

    # ------------------------------------------------------------------ add
    def add(self, obs: np.ndarray, action: np.ndarray, reward: float, cost: float,
            next_obs: np.ndarray, terminated: bool, truncated: bool) -> None:
        """Store one transition; ``cost`` is the step's constraint signal."""
        slot = self.added % self.capacity
        self.oldest = max(self.oldest, self.added + 1 - self.capacity)  # slot's old transition
        if self.frame_stack is None:
            self.obs[slot] = obs
            self.next_obs[slot] = next_obs
        else:
            self._add_frames(np.asarray(obs), np.asarray(next_obs), slot)
        self.action[slot] = action
        self.reward[slot] = reward
        self.cost[slot] = cost
        self.terminated[slot] = terminated
        self.truncated[slot] = truncated
        self.added += 1
        if self.frame_stack is not None:
            self._prev_next = None if (terminated or truncated) else np.array(next_obs)
        if self.tree is not None:
            self._sync_priorities()

    def _add_frames(self, obs: np.ndarray, next_obs: np.ndarray, slot: int) -> None:
        if obs.shape != self.obs_shape or next_obs.shape != self.obs_shape:
            raise ValueError(f"expected frame stacks of shape {self.obs_shape}, got "
                             f"{obs.shape} and {next_obs.shape}")
        if not np.array_equal(next_obs[:-1], obs[1:]):
            raise ValueError("next_obs is not obs shifted by one frame; frame_stack storage "
                             "needs the env's (T, C, H, W) stacks in time order")
        if self._prev_next is None or not np.array_equal(obs, self._prev_next):
            # A new episode (or a break in continuity): store its first stack,
            # its leading repeats once (the clamp at sampling time restores them).
            j = 0
            while j + 1 < len(obs) and np.array_equal(obs[j + 1], obs[0]):
                j += 1
            self._ep_first = self.frames_added
            self._write_frames(obs[j:])
        self.obs_last[slot] = self.frames_added - 1
        self.ep_start[slot] = self._ep_first
        self._write_frames(next_obs[-1:])

    def _write_frames(self, frames: np.ndarray) -> None:
        for f in frames:
            self.frames[self.frames_added % self.frame_capacity] = f
            self.frames_added += 1
        # Drop transitions whose oldest frame was just overwritten.
        lost_below = self.frames_added - self.frame_capacity
        while self.oldest < self.added:
            s = self.oldest % self.capacity
            if max(self.obs_last[s] - self.frame_stack + 1, self.ep_start[s]) >= lost_below:
                break
            self.oldest += 1

    # --------------------------------------------------------------- sample
    def observations(self, ids: np.ndarray) -> np.ndarray:
        """The observations of transitions ``ids`` (stacks rebuilt for video)."""
        return self._obs_pair(np.asarray(ids, np.int64) % self.capacity)[0]

    def transitions(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        """Transitions ``ids`` as arrays (obs, action, reward, cost, next_obs, terminated,
        truncated), stacks rebuilt for video: for readers of a run's replay."""
        return self._rows(np.asarray(ids, np.int64) % self.capacity)

    def _rows(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        obs, next_obs = self._obs_pair(slots)
        return {"obs": obs, "action": self.action[slots], "reward": self.reward[slots],
                "cost": self.cost[slots], "next_obs": next_obs,
                "terminated": self.terminated[slots], "truncated": self.truncated[slots]}

    def _obs_pair(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.frame_stack is None:
            return self.obs[slots], self.next_obs[slots]
        fid = np.maximum(self.obs_last[slots, None] + self._offsets, self.ep_start[slots, None])
        both = self.frames[fid % self.frame_capacity]  # (B, T+1, C, H, W)
        return both[:, :-1], both[:, 1:]

    def sample(self, batch_size: int, device: torch.device | str | None = None,
               beta: float | None = None) -> dict[str, torch.Tensor]:
        """A batch: obs/next_obs in the stored dtype, float32 for the rest.

        Keys: obs, action, reward, cost, next_obs, terminated, truncated (1.0 / 0.0)
        and index (the transitions' ids, for later per-sample weighting); with
        priorities also weight, the importance weights at exponent ``beta``.
        """
        if len(self) == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        weight = None
        if self.tree is None:
            ids = self.oldest + self.rng.integers(0, len(self), size=batch_size)
            slots = ids % self.capacity
        else:
            slots = self.tree.sample(batch_size, self.rng)
            ids = self.oldest + (slots - self.oldest) % self.capacity
            probs = self.tree.leaves[slots] / self.tree.total
            weight = importance_weights(probs, len(self), 1.0 if beta is None else beta)
        out = self._rows(slots)
        out.update(terminated=out["terminated"].astype(np.float32),
                   truncated=out["truncated"].astype(np.float32), index=ids)
        if weight is not None:
            out["weight"] = weight
        return {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in out.items()}

    # ---------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, np.ndarray | int]:
        """Plain arrays and ints (``np.savez``-able, no pickle); only filled slots."""
        filled = min(self.added, self.capacity)
        state: dict[str, np.ndarray | int] = {
            "capacity": self.capacity, "added": self.added, "oldest": self.oldest,
            "rng": _rng_to_array(self.rng),
            "action": self.action[:filled], "reward": self.reward[:filled],
            "cost": self.cost[:filled], "terminated": self.terminated[:filled],
            "truncated": self.truncated[:filled],
        }
        if self.frame_stack is None:
            state.update(obs=self.obs[:filled], next_obs=self.next_obs[:filled])
        else:
            nf = min(self.frames_added, self.frame_capacity)
            state.update(frames=self.frames[:nf], frames_added=self.frames_added,
                         obs_last=self.obs_last[:filled], ep_start=self.ep_start[:filled],
                         ep_first=self._ep_first, has_prev=int(self._prev_next is not None),
                         prev_next=(self._prev_next if self._prev_next is not None
                                    else np.zeros(self.obs_shape, self.obs_dtype)))
        if self.tree is not None:  # the leaves alone: the sums are a function of them
            state.update(priorities=self.tree.leaves.copy(), max_priority=self.max_priority,
                         prio_oldest=self._prio_oldest)
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore exactly (contents, ring position, sampler RNG); checks the layout."""
        need = ["capacity", "added", "oldest", "rng", "action", *_SCALARS]
        need += ["obs", "next_obs"] if self.frame_stack is None else \
            ["frames", "frames_added", "obs_last", "ep_start", "ep_first", "has_prev", "prev_next"]
        missing = [k for k in need if k not in state]
        if missing:
            raise ValueError(f"replay state is missing {missing} (was it saved with a different "
                             f"frame_stack setting?)")
        if int(state["capacity"]) != self.capacity:
            raise ValueError(f"replay state has capacity {int(state['capacity'])}, this buffer "
                             f"{self.capacity}")
        added = int(state["added"])
        filled = min(added, self.capacity)
        arrays = ["action", *_SCALARS]
        arrays += ["obs", "next_obs"] if self.frame_stack is None else ["obs_last", "ep_start"]
        for k in arrays:
            dst = getattr(self, k)
            src = np.asarray(state[k])
            if src.shape != (filled, *dst.shape[1:]):
                raise ValueError(f"replay state {k!r} has shape {src.shape}, expected "
                                 f"{(filled, *dst.shape[1:])}")
            dst[:filled] = src
        if self.frame_stack is not None:
            self.frames_added = int(state["frames_added"])
            nf = min(self.frames_added, self.frame_capacity)
            src = np.asarray(state["frames"])
            if src.shape != (nf, *self.frames.shape[1:]):
                raise ValueError(f"replay state 'frames' has shape {src.shape}, expected "
                                 f"{(nf, *self.frames.shape[1:])}")
            self.frames[:nf] = src
            self._ep_first = int(state["ep_first"])
            self._prev_next = np.array(state["prev_next"]) if int(state["has_prev"]) else None
        self.added, self.oldest = added, int(state["oldest"])
        self.rng = _rng_from_array(np.asarray(state["rng"]))
        if (self.tree is not None) != ("priorities" in state):
            raise ValueError("replay state was saved with prioritised sampling "
                             f"{'on' if 'priorities' in state else 'off'}, this buffer has it "
                             f"{'on' if self.tree is not None else 'off'}")
        if self.tree is not None:
            self.tree.set_all(np.asarray(state["priorities"]))
            self.max_priority = float(state["max_priority"])
            self._prio_oldest = int(state["prio_oldest"])


def _rng_to_array(rng: np.random.Generator) -> np.ndarray:
    """PCG64 state as uint64 words (its 128-bit ints do not fit an npz without pickle)."""
    s = rng.bit_generator.state
    if s["bit_generator"] != "PCG64":
        raise TypeError(f"unsupported bit generator {s['bit_generator']}")
    st, inc = s["state"]["state"], s["state"]["inc"]
    return np.array([st >> 64, st & _MASK64, inc >> 64, inc & _MASK64, s["has_uint32"],
                     s["uinteger"]], dtype=np.uint64)


def _rng_from_array(a: np.ndarray) -> np.random.Generator:
    w = [int(x) for x in a]
    rng = np.random.default_rng()
    rng.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": (w[0] << 64) | w[1], "inc": (w[2] << 64) | w[3]},
        "has_uint32": w[4], "uinteger": w[5],
    }
    return rng
