"""Gymnasium ids for every robolabor environment (idempotent)."""

import gymnasium as gym

_ENVS = {
    "robolabor/DishwashingClassic-v0": "robolabor.envs.classic:DishwashingClassicEnv",
    "robolabor/DishwashingShift-v0": "robolabor.envs.shift:DishwashingShiftEnv",
    "robolabor/DishwashingShiftVideo-v0": "robolabor.envs.video:DishwashingShiftVideoEnv",
    "robolabor/DishwashingClassicVideo-v0": "robolabor.envs.video:DishwashingClassicVideoEnv",
    "robolabor/DishwashingPhysics-v0": "robolabor.envs.physics:DishwashingPhysicsEnv",
    "robolabor/DishwashingPhysicsVideo-v0": "robolabor.envs.physics:DishwashingPhysicsVideoEnv",
}
ENV_IDS = tuple(_ENVS)


def register_envs() -> None:
    for env_id, entry_point in _ENVS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point)
