"""The replay's sampling settings, apart from the buffer so that reading a run's
configuration (a table of runs, a config hash) never imports torch."""

from __future__ import annotations

from dataclasses import dataclass

from robolabor.schema import spec


@dataclass(frozen=True)
class ReplayConfig:
    """How the replay samples; ``prioritised: false`` (the default) is uniform."""

    prioritised: bool = spec(False, doc="sample ∝ (novelty + eps)^alpha with importance "
                                        "weights (BENCHMARKS.md §9.6: it did not help here)")
    alpha: float = spec(0.6, lo=0.0, doc="priority exponent; 0 = uniform")
    beta: float = spec(0.4, lo=0.0, hi=1.0, doc="importance-weight exponent at the first "
                                                "update, annealed linearly to 1 at the end")
    eps: float = spec(0.1, lo=0.0, lo_open=True, doc="added to the clipped novelty z-score")
    min_priority: float = spec(1.0, lo=0.0, lo_open=True,
                               doc="floor under novelty + eps before the exponent (LAP): "
                                   "a typical transition keeps this share")
    refresh_every: int = spec(2000, lo=1, doc="env steps between refits of the novelty "
                                              "model and rescoring of the whole buffer")
    fit_latents: int = spec(5000, lo=10, doc="most recent transitions the novelty model is "
                                             "fitted on")
    fit_iters: int = spec(400, lo=1, doc="DDPM training steps per refit (kept cheap)")
    fit_hidden: int = spec(128, lo=8, doc="DDPM noise-predictor width")
