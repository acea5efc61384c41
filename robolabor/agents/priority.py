"""A sum tree for prioritised replay: O(log N) updates and prefix-sum sampling.

Leaves hold the priorities of the replay's slots; every internal node is the sum of
its two children, recomputed from them (never adjusted by a delta), so the tree is a
pure function of its leaves: rebuilding it from saved leaves gives the same sums to
the last bit, and a resumed run samples exactly as the run that was killed.

Sampling is stratified: the total mass is cut into ``B`` equal strata and one uniform
point is drawn in each, which lowers the variance of the batch's composition against
``B`` independent draws while keeping P(i) = p_i / Σp for every draw's marginal.
"""

from __future__ import annotations

import numpy as np


class SumTree:
    """Priorities of ``capacity`` slots (float64, non-negative) with their prefix sums."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.size = 1 << max(0, (self.capacity - 1).bit_length())  # leaves (a power of 2)
        self.tree = np.zeros(2 * self.size, np.float64)           # node 1 is the root

    @property
    def total(self) -> float:
        return float(self.tree[1])

    @property
    def leaves(self) -> np.ndarray:
        """A view of the slots' priorities."""
        return self.tree[self.size:self.size + self.capacity]

    def update(self, slots, priorities) -> None:
        """Set the priorities of ``slots`` (a repeated slot keeps its last value)."""
        slots = np.asarray(slots, np.int64).ravel()
        p = np.broadcast_to(np.asarray(priorities, np.float64), slots.shape)
        if slots.size == 0:
            return
        if slots.min() < 0 or slots.max() >= self.capacity:
            raise IndexError(f"slots must lie in [0, {self.capacity}), got "
                             f"[{slots.min()}, {slots.max()}]")
        if not np.isfinite(p).all() or (p < 0).any():
            raise ValueError("priorities must be finite and >= 0")
        self.tree[self.size + slots] = p
        self._recompute(self.size + slots)

    def set_all(self, priorities) -> None:
        """Replace every leaf at once (a rebuild from saved leaves)."""
        p = np.asarray(priorities, np.float64)
        if p.shape != (self.capacity,):
            raise ValueError(f"expected {self.capacity} priorities, got shape {p.shape}")
        if not np.isfinite(p).all() or (p < 0).any():
            raise ValueError("priorities must be finite and >= 0")
        self.tree[:] = 0.0
        self.tree[self.size:self.size + self.capacity] = p
        self._recompute(np.arange(self.size, 2 * self.size))

    def _recompute(self, nodes: np.ndarray) -> None:
        nodes = np.unique(nodes // 2)
        while nodes.size and nodes[0] >= 1:
            self.tree[nodes] = self.tree[2 * nodes] + self.tree[2 * nodes + 1]
            if nodes[0] == 1:
                break
            nodes = np.unique(nodes // 2)

    def find(self, mass) -> np.ndarray:
        """Slots whose prefix-sum interval holds each value of ``mass`` ∈ [0, total):
        slot i is hit by values in [Σ_{j<i} p_j, Σ_{j≤i} p_j). Never returns a slot of
        priority 0 while the total is positive."""
        if not self.total > 0:
            raise ValueError("cannot sample from a sum tree whose total priority is 0")
        u = np.asarray(mass, np.float64).ravel().copy()
        idx = np.ones(u.shape, np.int64)
        while idx[0] < self.size:
            left = self.tree[2 * idx]
            right_ok = self.tree[2 * idx + 1] > 0
            go_right = ((u >= left) & right_ok) | (left <= 0)
            u = np.where(go_right, u - left, u)
            idx = 2 * idx + go_right
        return idx - self.size

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` slots, P(i) = p_i / Σp per draw, one draw in each of n equal strata."""
        edges = self.total * (np.arange(n) + rng.random(n)) / n
        return self.find(np.minimum(edges, np.nextafter(self.total, 0.0)))


def novelty_priorities(novelty, eps: float, alpha: float, floor: float) -> np.ndarray:
    """p = max(max(novelty, 0) + ε, floor)^α: a standardised novelty (0 = typical) made
    non-negative, with a floor under it so no transition is starved (the LAP floor)."""
    n = np.asarray(novelty, np.float64)
    if not np.isfinite(n).all():
        raise ValueError("novelty scores must be finite")
    return np.maximum(np.maximum(n, 0.0) + eps, floor) ** alpha


def importance_weights(probs, n: int, beta: float) -> np.ndarray:
    """w = (N·P)^-β normalised by the batch's largest weight: the correction of the
    sampling bias, scaled so that no update is larger than a uniform one."""
    w = (n * np.asarray(probs, np.float64)) ** (-beta)
    return (w / w.max()).astype(np.float32)
