"""robolabor: SAC robot policies for dishwashing, accounted for as labor.

Importing the package registers the Gymnasium environments:
``robolabor/DishwashingClassic-v0`` (the prototype's stateless task, kept to
reproduce its numbers) and ``robolabor/DishwashingShift-v0`` (the real task).
"""

from robolabor.envs.registration import register_envs

__version__ = "0.1.0"

register_envs()
