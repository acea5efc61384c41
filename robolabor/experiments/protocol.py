"""The reporting protocol: which seeds tune a recipe and which report it.

A figure is only defensible if the seeds and evaluation episodes it is measured on
were never used to choose the settings that produced it. So the seed space is split:

* training seeds ``0 .. 99`` are for tuning (probes, ablations, choosing defaults);
  periodic evaluations during training use the configs' ``eval_seed`` (10,000 on),
  which therefore also count as tuning episodes;
* reported training seeds start at ``REPORT_SEED_START`` (100);
* reported final evaluations run on episodes from ``REPORT_EVAL_SEED`` (1,000,000 on),
  which nothing trains or tunes on.

``compare``, the benchmark scripts and the demo take their seeds from here.
"""

from __future__ import annotations

TUNING_SEEDS = range(0, 100)
REPORT_SEED_START = 100
REPORT_EVAL_SEED = 1_000_000


def report_seeds(n: int, start: int = REPORT_SEED_START) -> list[int]:
    """``n`` training seeds for a reported figure (never a tuning seed)."""
    if n < 1:
        raise ValueError(f"need at least one seed, got {n}")
    if start < REPORT_SEED_START:
        raise ValueError(f"reported figures use training seeds >= {REPORT_SEED_START} "
                         f"(seeds below are for tuning), got start={start}")
    return list(range(start, start + n))
