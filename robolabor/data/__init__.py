"""Data value on latents: novelty of encoder latents (``novelty``), data packs with their
provenance (``packs``) and the counterfactual ΔMPL of a pack (``valuation``)."""
