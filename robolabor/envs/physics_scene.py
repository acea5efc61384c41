"""The MuJoCo dishwashing scene: its parameters, its MJCF, one placement, one frame.

What is simulated and what is planned (why: a shift minute handles up to ~15 dishes and
an env step must stay near 5 ms, so MuJoCo integrates the part where dishes break):

* **Planned** (kinematics of a mocap gripper, no contact): each dish's handling time is
  the duration of the gripper's trajectory: grip closing, a lift to the approach height,
  the transfer to the drying rack and the return (trapezoidal velocity profiles with the
  speed's velocity and acceleration, the acceleration capped by the arm's force over the
  dish's mass), the final descent from the approach height at the placement velocity,
  the settle dwell before opening, the wash pass of the dish's type, and a random search
  time in the sink (exponential). :func:`handling_time` computes it.
* **Simulated** (MuJoCo, ``timestep`` seconds a step): the release. The gripper opens at
  the release gap above the rack with the dish moving down at the placement velocity,
  swaying sideways and tilted by the transfer's deceleration in a grip that care firms
  up; MuJoCo integrates the free fall, the impact on the rack and ``after_contact_s`` of
  settling (:func:`simulate_release`). A touch sensor on the dish reads the total normal
  contact force every step; the dish **breaks when the peak force exceeds its strength**,
  drawn per dish from a Weibull distribution with the type's scale and modulus (brittle
  ware fails that way).

The GL backend for the frames is chosen here, before ``mujoco`` is imported:
``MUJOCO_GL`` if set, else EGL, else OSMesa (:func:`select_gl_backend`).
"""

from __future__ import annotations

import ctypes.util
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from robolabor.envs.params import ShiftParams
from robolabor.errors import UserError
from robolabor.schema import ConfigError, spec, validate

GL_BACKENDS = {"egl": ("EGL", "libegl1"), "osmesa": ("OSMesa", "libosmesa6")}
FRAME = 64
MAX_GEOM = 200
GRAVITY = 9.81


def select_gl_backend(find: Callable[[str], str | None] = ctypes.util.find_library) -> str:
    """Set ``MUJOCO_GL`` (and PyOpenGL's platform) to a backend whose library exists.

    A user's own ``MUJOCO_GL`` is kept. Without one: EGL, else OSMesa; neither raises one
    ``UserError`` naming the Debian packages that provide them.
    """
    chosen = os.environ.get("MUJOCO_GL")
    if chosen:
        return chosen
    for backend, (lib, _pkg) in GL_BACKENDS.items():
        if find(lib):
            os.environ["MUJOCO_GL"] = backend
            os.environ.setdefault("PYOPENGL_PLATFORM", backend)
            return backend
    raise UserError("the physics scene renders headless through EGL or OSMesa and found "
                    "neither library: install libegl1 (apt-get install libegl1) or "
                    "libosmesa6, or set MUJOCO_GL")


def import_mujoco(gl: bool = True) -> Any:
    """``mujoco``, imported after the GL backend is chosen (it reads ``MUJOCO_GL`` once).

    With ``gl=False`` (a state env that never renders) a machine without EGL or OSMesa
    still simulates: rendering is then disabled for the process."""
    try:
        select_gl_backend()
    except UserError:
        if gl:
            raise
        os.environ["MUJOCO_GL"] = "disable"
    try:
        import mujoco
    except ImportError as exc:
        if "mujoco" in str(exc) and "No module" in str(exc):
            raise UserError("the physics envs need MuJoCo: pip install 'robolabor[physics]'"
                            ) from None
        raise UserError(f"MuJoCo could not load its GL backend {os.environ.get('MUJOCO_GL')!r} "
                        f"({exc}); install libegl1 or libosmesa6") from None
    return mujoco


@dataclass(frozen=True)
class DishBody:
    """One dish type as a rigid body: a cylinder with a mass and a Weibull strength."""

    name: str = spec("plate", doc="the shift task's type name it stands for")
    radius: float = spec(0.12, lo=0.005, hi=0.3, doc="m")
    half_height: float = spec(0.01, lo=0.002, hi=0.2, doc="m")
    mass: float = spec(0.5, lo=0.01, hi=10.0, doc="kg")
    strength: float = spec(125.0, lo=0.0, lo_open=True,
                           doc="Weibull scale of the peak contact force it survives, N")
    weibull_modulus: float = spec(4.0, lo=0.5, hi=50.0,
                                  doc="Weibull shape: higher = more uniform strength")
    wash_s: float = spec(2.5, lo=0.0, hi=60.0, doc="wash pass, s (fixed per type)")
    rgba: tuple[float, float, float] = spec((0.92, 0.92, 0.85), lo=0.0, hi=1.0,
                                             doc="colour on the frame")

    def __post_init__(self) -> None:
        validate(self)


def _default_bodies() -> tuple[DishBody, ...]:
    # A dinner plate, a tumbler and a steel pot. Strength scales are set so that flat-out
    # handling breaks about what the shift task's defaults break (BENCHMARKS.md).
    return (
        DishBody(name="plate", radius=0.12, half_height=0.01, mass=0.5, strength=100.0,
                 weibull_modulus=4.0, wash_s=2.2, rgba=(0.92, 0.92, 0.85)),
        DishBody(name="glass", radius=0.04, half_height=0.06, mass=0.25, strength=36.0,
                 weibull_modulus=4.0, wash_s=3.4, rgba=(0.45, 0.85, 0.95)),
        DishBody(name="pot", radius=0.11, half_height=0.07, mass=1.6, strength=520.0,
                 weibull_modulus=3.0, wash_s=10.0, rgba=(0.55, 0.5, 0.45)),
    )


@dataclass(frozen=True)
class PhysicsParams:
    """The scene and the robot. ``shift`` carries the shift task's arrivals, rack,
    dish-type chain, prices and SLA unchanged; the rates and error probabilities of its
    dish types are not used (here they come from the motion and the contacts)."""

    shift: ShiftParams = spec(default_factory=ShiftParams, doc="arrivals, economics, SLA")
    dishes: tuple[DishBody, ...] = spec(default_factory=_default_bodies,
                                        doc="one body per shift dish type, same order")
    timestep: float = spec(0.002, lo=0.0002, hi=0.005, doc="MuJoCo step, s")
    transfer_m: float = spec(0.6, lo=0.05, hi=3.0, doc="sink-to-rack distance, m")
    v_lo: float = spec(0.15, lo=0.01, doc="transfer velocity at speed 0, m/s")
    v_hi: float = spec(1.5, lo=0.01, doc="transfer velocity at speed 1, m/s")
    a_lo: float = spec(0.5, lo=0.01, doc="transfer acceleration at speed 0, m/s^2")
    a_hi: float = spec(5.0, lo=0.01, doc="transfer acceleration at speed 1, m/s^2")
    arm_force: float = spec(6.0, lo=0.1, doc="force the arm can put into the payload, N "
                            "(caps the acceleration of heavy dishes)")
    gripper_mass: float = spec(0.5, lo=0.0, doc="kg moved with every dish")
    approach_lo: float = spec(0.02, lo=0.0, hi=1.0, doc="approach height at care 0, m")
    approach_hi: float = spec(0.15, lo=0.0, hi=1.0, doc="approach height at care 1, m")
    place_lo: float = spec(0.5, lo=0.0, hi=1.0,
                           doc="placement velocity as a share of the transfer's, care 0")
    place_hi: float = spec(0.04, lo=0.0, hi=1.0,
                           doc="placement velocity as a share of the transfer's, care 1")
    place_min: float = spec(0.02, lo=0.001, doc="slowest placement velocity, m/s")
    gap_lo: float = spec(0.012, lo=0.0, hi=0.2, doc="release gap above the rack at care 0, m")
    gap_hi: float = spec(0.002, lo=0.0, hi=0.2, doc="release gap at care 1, m")
    grip_lo: float = spec(0.3, lo=0.0, hi=1.0, doc="grip firmness at care 0 (1 = rigid)")
    grip_hi: float = spec(0.9, lo=0.0, hi=1.0, doc="grip firmness at care 1")
    grip_close_lo: float = spec(0.2, lo=0.0, doc="grip closing time at care 0, s")
    grip_close_hi: float = spec(1.2, lo=0.0, doc="grip closing time at care 1, s")
    settle_hi: float = spec(2.0, lo=0.0, doc="dwell before opening at care 1, s (0 at care 0)")
    sway: float = spec(0.06, lo=0.0, doc="sideways release velocity per m/s^2 of deceleration "
                       "in a loose grip, m/s per m/s^2 (scaled by 1 - grip)")
    tilt: float = spec(0.04, lo=0.0, doc="tilt at release per m/s^2 in a loose grip, rad")
    tilt_base: float = spec(0.02, lo=0.0, doc="tilt scale of a still, firm grip, rad")
    search_mean_s: float = spec(0.6, lo=0.0, doc="mean search time for the next dish, s")
    after_contact_s: float = spec(0.03, lo=0.004, hi=1.0,
                                  doc="simulated time after the first contact, s")
    max_release_s: float = spec(0.5, lo=0.01, hi=5.0, doc="cap on one release's simulated time")

    def __post_init__(self) -> None:
        validate(self)
        names = tuple(dt.name for dt in self.shift.dish_types)
        if tuple(b.name for b in self.dishes) != names:
            raise ConfigError(f"dishes: one body per shift dish type in the same order "
                              f"{list(names)}, got {[b.name for b in self.dishes]}")


# ----------------------------------------------------------------------------- motion

def _lerp(lo: float, hi: float, x: float) -> float:
    return lo + (hi - lo) * x


def trapezoid_time(dist: float, v: float, a: float) -> float:
    """Time to move ``dist`` from rest to rest with velocity cap ``v``, acceleration ``a``."""
    if dist <= 0:
        return 0.0
    if v * v / a >= dist:  # never reaches v: triangular profile
        return 2.0 * math.sqrt(dist / a)
    return dist / v + v / a


@dataclass(frozen=True)
class Motion:
    """The gripper's plan for one dish at one action (deterministic part)."""

    velocity: float        # transfer velocity, m/s
    accel: float           # transfer acceleration (payload-capped), m/s^2
    approach: float        # approach height, m
    place_v: float         # placement (final descent) velocity, m/s
    gap: float             # release gap above the rack, m
    grip: float            # grip firmness in [0, 1]
    plan_s: float          # handling time without the search, s


def plan_motion(p: PhysicsParams, k: int, speed: float, care: float) -> Motion:
    """The planned trajectory's numbers for a dish of type ``k`` (see the module doc)."""
    body = p.dishes[k]
    v = _lerp(p.v_lo, p.v_hi, speed)
    a = min(_lerp(p.a_lo, p.a_hi, speed), p.arm_force / (body.mass + p.gripper_mass))
    a_empty = _lerp(p.a_lo, p.a_hi, speed)
    approach = _lerp(p.approach_lo, p.approach_hi, care)
    place_v = max(p.place_min, _lerp(p.place_lo, p.place_hi, care) * v)
    plan = (body.wash_s + _lerp(p.grip_close_lo, p.grip_close_hi, care)
            + trapezoid_time(approach, v, a)                    # lift out of the sink
            + trapezoid_time(p.transfer_m, v, a)                # carry to the rack
            + approach / place_v                                # final descent
            + p.settle_hi * care                                # dwell before opening
            + trapezoid_time(p.transfer_m + approach, v, a_empty))  # return empty
    return Motion(velocity=v, accel=a, approach=approach, place_v=place_v,
                  gap=_lerp(p.gap_lo, p.gap_hi, care), grip=_lerp(p.grip_lo, p.grip_hi, care),
                  plan_s=plan)


@dataclass(frozen=True)
class Release:
    """The dish's state when the gripper opens, relative to the rack slot."""

    gap: float                       # lowest point above the rack, m
    velocity: tuple[float, float, float]  # m/s
    tilt: float                      # rad
    tilt_axis: float                 # rad, direction of the tilt axis in the plane


# Per-dish noise: a row of uniforms; these are their columns.
NOISE_COLS = 7  # search, strength, gap, sway, sway direction, tilt, tilt axis


def release_of(p: PhysicsParams, motion: Motion, u: np.ndarray) -> Release:
    """The release state of one dish from its plan and its row of uniforms ``u``."""
    loose = 1.0 - motion.grip
    z_gap = _half_normal(u[2])
    gap = motion.gap * (0.5 + 0.5 * z_gap)
    v_side = p.sway * motion.accel * loose * _half_normal(u[3])
    phi = 2.0 * math.pi * u[4]
    tilt = (p.tilt * motion.accel * loose + p.tilt_base) * _half_normal(u[5])
    return Release(gap=gap, velocity=(v_side * math.cos(phi), v_side * math.sin(phi),
                                      -motion.place_v),
                   tilt=min(tilt, 1.2), tilt_axis=2.0 * math.pi * u[6])


def _half_normal(u: float) -> float:
    """|Z| for Z standard normal, from one uniform (inverse CDF)."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + 0.5 * min(max(u, 1e-12), 1.0 - 1e-12))


def search_time(p: PhysicsParams, u: float) -> float:
    """Exponential search time for the next dish in the sink, from one uniform."""
    return -p.search_mean_s * math.log1p(-min(u, 1.0 - 1e-12))


def strength_of(body: DishBody, u: float) -> float:
    """Weibull(scale ``strength``, shape ``weibull_modulus``) from one uniform."""
    return body.strength * (-math.log1p(-min(u, 1.0 - 1e-12))) ** (1.0 / body.weibull_modulus)


# ----------------------------------------------------------------------------- MJCF

RACK_X = 0.1
SINK_X = -0.3
COLORS = {
    "counter": (0.16, 0.17, 0.2, 1), "rack": (0.62, 0.64, 0.7, 1), "sink": (0.2, 0.3, 0.45, 1),
    "backlog": (0.35, 0.6, 1.0, 1), "clock": (0.92, 0.78, 0.24, 1),
    "rush": (0.67, 0.35, 1.0, 1), "budget": (0.25, 0.8, 0.35, 1),
    "attempts": (0.9, 0.9, 0.9, 1), "gripper": (0.95, 0.55, 0.15, 1),
    "broken": (0.95, 0.12, 0.1, 1),
}
# Bars: name -> (x, y, half-width); they grow upward from the counter (z = 0).
BARS = {"backlog": (SINK_X, 0.0, 0.06), "rush": (0.34, 0.1, 0.025),
        "rush_next": (0.4, 0.1, 0.025), "budget": (0.34, -0.1, 0.025),
        "attempts": (0.4, -0.1, 0.025)}
BAR_MAX = 0.35  # m, a full bar
CLOCK_HALF = 0.44  # m, half the clock track
N_SHARDS = 6


def _rgba(c: tuple) -> str:
    return " ".join(f"{x:.3f}" for x in (tuple(c) + (1.0,))[:4])


def scene_xml(p: PhysicsParams, k: int) -> str:
    """MJCF of the scene with the dish body of type ``k`` (one model per type)."""
    b = p.dishes[k]
    vis = 'contype="0" conaffinity="0"'
    bars = "\n".join(
        f'<geom name="bar_{n}" type="box" pos="{x} {y} 0.01" size="{w} {w} 0.01" '
        f'rgba="{_rgba(COLORS[n.split("_")[0]])}" {vis}/>' for n, (x, y, w) in BARS.items())
    shards = "\n".join(
        f'<geom name="shard{i}" type="box" pos="{-0.2 + 0.08 * i:.3f} -0.26 0.02" '
        f'size="0.03 0.03 0.02" rgba="{_rgba(COLORS["broken"])}" {vis}/>'
        for i in range(N_SHARDS))
    return f"""<mujoco model="dishwashing_{b.name}">
  <option timestep="{p.timestep}" gravity="0 0 -{GRAVITY}"/>
  <visual>
    <quality shadowsize="0" offsamples="0"/>
    <global offwidth="{FRAME}" offheight="{FRAME}"/>
    <headlight ambient="0.45 0.45 0.45" diffuse="0.6 0.6 0.6" specular="0 0 0"/>
  </visual>
  <worldbody>
    <camera name="scene" pos="0 -1.0 2.3" xyaxes="1 0 0 0 0.94 0.34" fovy="22"/>
    <geom name="counter" type="box" pos="0 0 -0.02" size="0.48 0.36 0.02"
          rgba="{_rgba(COLORS['counter'])}" {vis}/>
    <geom name="rack" type="plane" pos="{RACK_X} 0 0" size="0.15 0.15 0.01"
          rgba="{_rgba(COLORS['rack'])}" friction="0.6"/>
    <geom name="sink" type="box" pos="{SINK_X} 0 0.002" size="0.13 0.15 0.002"
          rgba="{_rgba(COLORS['sink'])}" {vis}/>
    <geom name="clock_track" type="box" pos="0 0.3 0.004" size="0.44 0.025 0.004"
          rgba="0.3 0.3 0.34 1" {vis}/>
    <geom name="clock" type="box" pos="-0.44 0.3 0.01" size="0.001 0.025 0.01"
          rgba="{_rgba(COLORS['clock'])}" {vis}/>
    {bars}
    {shards}
    <body name="gripper" mocap="true" pos="{RACK_X} 0 0.3">
      <geom name="palm" type="box" size="0.05 0.02 0.012" pos="0 0 0.05"
            rgba="{_rgba(COLORS['gripper'])}" {vis}/>
      <geom name="finger_l" type="box" size="0.006 0.015 0.04" pos="-0.045 0 0.01"
            rgba="{_rgba(COLORS['gripper'])}" {vis}/>
      <geom name="finger_r" type="box" size="0.006 0.015 0.04" pos="0.045 0 0.01"
            rgba="{_rgba(COLORS['gripper'])}" {vis}/>
    </body>
    <body name="dish" pos="{RACK_X} 0 {b.half_height + 0.2}">
      <freejoint name="dish"/>
      <geom name="dish" type="cylinder" size="{b.radius} {b.half_height}" mass="{b.mass}"
            rgba="{_rgba(b.rgba)}" solref="{2 * p.timestep} 1" friction="0.6"/>
      <site name="touch" type="box" size="{b.radius + 0.01} {b.radius + 0.01}
            {b.half_height + 0.01}" rgba="0 0 0 0"/>
    </body>
  </worldbody>
  <sensor><touch name="touch" site="touch"/></sensor>
</mujoco>"""


@dataclass
class ReleaseOutcome:
    peak_force: float   # N, largest total normal contact force in one step
    impulse: float      # N s, normal contact impulse over the simulated window
    steps: int          # mj_step calls
    sim_s: float        # simulated seconds


class Scene:
    """The compiled models (one per dish type), their data, and the frame renderer."""

    def __init__(self, params: PhysicsParams, gl: bool = True) -> None:
        self.mj = import_mujoco(gl)
        self.params = params
        self.models = [self.mj.MjModel.from_xml_string(scene_xml(params, k))
                       for k in range(len(params.dishes))]
        self.datas = [self.mj.MjData(m) for m in self.models]
        self.reset()
        m0 = self.models[0]
        self._id = {name: self.mj.mj_name2id(m0, self.mj.mjtObj.mjOBJ_GEOM, name)
                    for name in ["clock", "dish", *(f"bar_{n}" for n in BARS),
                                 *(f"shard{i}" for i in range(N_SHARDS))]}
        self._renderer = None

    def reset(self) -> None:
        """Every type's scene back to its initial state (the frames depend on nothing
        from an earlier episode)."""
        for m, d in zip(self.models, self.datas, strict=True):
            self.mj.mj_resetData(m, d)
            self.mj.mj_forward(m, d)

    # -- physics
    def simulate_release(self, k: int, rel: Release) -> ReleaseOutcome:
        """Integrate one dish from the gripper opening to ``after_contact_s`` past impact."""
        mj, m, d, p = self.mj, self.models[k], self.datas[k], self.params
        b = p.dishes[k]
        mj.mj_resetData(m, d)
        ct, st = math.cos(rel.tilt), math.sin(rel.tilt)
        d.qpos[0:3] = (RACK_X, 0.0, rel.gap + b.half_height * ct + b.radius * st)
        ax, ay = math.cos(rel.tilt_axis), math.sin(rel.tilt_axis)
        h = 0.5 * rel.tilt
        d.qpos[3:7] = (math.cos(h), ax * math.sin(h), ay * math.sin(h), 0.0)
        d.qvel[0:3] = rel.velocity
        d.mocap_pos[0] = (RACK_X, 0.0, d.qpos[2] + 0.01)
        peak, impulse, first, n = 0.0, 0.0, None, 0
        dt = m.opt.timestep
        limit = int(p.max_release_s / dt)
        after = int(round(p.after_contact_s / dt))
        sensor = d.sensordata
        step = mj.mj_step
        while n < limit:
            step(m, d)
            n += 1
            f = sensor[0]
            if f > 0.0:
                impulse += f
                if f > peak:
                    peak = f
                if first is None:
                    first = n
            if first is not None and n - first >= after:
                break
        return ReleaseOutcome(peak_force=float(peak), impulse=float(impulse * dt), steps=n,
                              sim_s=n * dt)

    # -- frames
    def frame(self, k: int, view: dict) -> np.ndarray:
        """One 64x64 RGB frame of type ``k``'s scene with the indicator bars of ``view``."""
        mj, m, d = self.mj, self.models[k], self.datas[k]
        for name, (x, y, w) in BARS.items():
            g = self._id[f"bar_{name}"]
            hz = max(0.5 * BAR_MAX * float(np.clip(view[name], 0.0, 1.0)), 1e-4)
            m.geom_size[g] = (w, w, hz)
            m.geom_pos[g] = (x, y, hz)
        g = self._id["bar_budget"]
        over = float(view["budget"]) > 0.5
        m.geom_rgba[g] = COLORS["broken"] if over else COLORS["budget"]
        g = self._id["bar_backlog"]
        m.geom_rgba[g][:3] = self.params.dishes[view["next_type"]].rgba
        g = self._id["clock"]
        half = max(CLOCK_HALF * float(np.clip(view["clock"], 0.0, 1.0)), 1e-3)
        m.geom_size[g][0] = half
        m.geom_pos[g][0] = -CLOCK_HALF + half
        m.geom_rgba[self._id["dish"]][:3] = (COLORS["broken"][:3] if view["dish_broken"]
                                             else self.params.dishes[k].rgba)
        m.geom_rgba[self._id["dish"]][3] = 1.0 if view["dish_shown"] else 0.0
        for i in range(N_SHARDS):
            m.geom_rgba[self._id[f"shard{i}"]][3] = 1.0 if i < view["broken"] else 0.0
        mj.mj_kinematics(m, d)  # world geoms take the new positions
        if self._renderer is None:
            self._renderer = FrameRenderer(mj, m)
        return self._renderer.render(m, d)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


class FrameRenderer:
    """A headless 64x64 offscreen renderer. The per-type models share one layout of
    primitive geoms (no meshes or textures), so one GL context draws any of them."""

    def __init__(self, mj: Any, model: Any) -> None:
        self.mj = mj
        self.gl = self.ctx = None
        try:
            self.gl = _gl_context_class(mj)(FRAME, FRAME)
            self.gl.make_current()
        except Exception as exc:  # the backend's library is there but unusable
            raise UserError(f"could not open a headless {os.environ.get('MUJOCO_GL')} GL "
                            f"context ({exc}); install libegl1 (Mesa EGL) or libosmesa6"
                            ) from None
        self.ctx = mj.MjrContext(model, mj.mjtFontScale.mjFONTSCALE_100.value)
        mj.mjr_setBuffer(mj.mjtFramebuffer.mjFB_OFFSCREEN.value, self.ctx)
        self.scene = mj.MjvScene(model, maxgeom=MAX_GEOM)
        self.option = mj.MjvOption()
        self.camera = mj.MjvCamera()
        self.camera.type = mj.mjtCamera.mjCAMERA_FIXED.value
        self.camera.fixedcamid = 0
        self.rect = mj.MjrRect(0, 0, FRAME, FRAME)
        self.buf = np.empty((FRAME, FRAME, 3), np.uint8)

    def render(self, model: Any, data: Any) -> np.ndarray:
        mj = self.mj
        self.gl.make_current()
        mj.mjv_updateScene(model, data, self.option, None, self.camera,
                           mj.mjtCatBit.mjCAT_ALL.value, self.scene)
        mj.mjr_render(self.rect, self.scene, self.ctx)
        mj.mjr_readPixels(self.buf, None, self.rect, self.ctx)
        return self.buf[::-1].copy()

    def close(self) -> None:
        """Free the MuJoCo context while its GL context is current, then the GL context."""
        if self.ctx is not None and self.gl is not None:
            self.gl.make_current()
            self.ctx.free()
        self.ctx = None
        if self.gl is not None:
            self.gl.free()
            self.gl = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001  (GL already torn down at interpreter exit)
            pass


def _gl_context_class(mj: Any) -> Any:
    """The chosen backend's GL context class, even when ``mujoco`` was imported before
    the backend was chosen (its own ``GLContext`` is then the windowed GLFW one)."""
    backend = os.environ.get("MUJOCO_GL", "")
    if backend == "egl":
        from mujoco.egl import GLContext
    elif backend == "osmesa":
        from mujoco.osmesa import GLContext
    else:
        GLContext = mj.GLContext
    return GLContext
