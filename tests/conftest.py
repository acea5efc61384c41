"""Test-wide settings: property-based tests are derandomised, so every run of the suite
draws the same examples (seeded like everything else) and a red CI is reproducible."""

from hypothesis import settings

settings.register_profile("robolabor", derandomize=True, deadline=None,
                          print_blob=True)
settings.load_profile("robolabor")
