"""The renderer draws the state, and the state can be read back from single frames.

The prototype's frames were one constant image; these tests would have caught it.
"""

import importlib.util
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import robolabor  # noqa: F401  (registers the envs)
from robolabor.envs.render import N_GLYPHS, RACK, STATE_KEYS, render_frame

torch.set_num_threads(1)
HAS_SHIFT = importlib.util.find_spec("robolabor.envs.shift") is not None


def base_state(**kw):
    s = dict(minute=120, shift_minutes=480, backlog=10, backlog_cap=30, dish_type=1, n_types=4,
             arrival_rate=0.5, peak_arrival_rate=1.0, good_this_step=2, errors_this_step=0,
             errors_so_far=3, attempts_so_far=100, sla=0.05, last_action=(0.4, 0.7))
    s.update(kw)
    return s


def test_frame_shape_dtype_and_keys():
    f = render_frame(base_state())
    assert f.shape == (64, 64, 3) and f.dtype == np.uint8
    assert set(base_state()) == set(STATE_KEYS)


@pytest.mark.parametrize("key,value", [
    ("minute", 300), ("backlog", 25), ("dish_type", 2), ("arrival_rate", 0.9),
    ("good_this_step", 5), ("errors_this_step", 1), ("errors_so_far", 9),
    ("attempts_so_far", 20), ("last_action", (0.9, 0.7)), ("last_action", (0.4, 0.1)),
])
def test_each_field_changes_the_frame(key, value):
    assert not np.array_equal(render_frame(base_state()), render_frame(base_state(**{key: value})))


def test_dish_types_differ_in_shape_and_colour():
    y0, y1, x0, x1 = RACK
    masks, colours = [], []
    for d in range(N_GLYPHS):
        patch = render_frame(base_state(dish_type=d, n_types=N_GLYPHS))[y0:y1, x0:x1]
        bg = patch[0, 0]
        mask = np.any(patch != bg, axis=-1)
        masks.append(mask)
        colours.append(tuple(patch[mask][0]))
    for i in range(N_GLYPHS):
        for j in range(i + 1, N_GLYPHS):
            assert (masks[i] != masks[j]).sum() > 20, (i, j)
            assert colours[i] != colours[j], (i, j)


def test_out_buffer_and_bad_dish_type():
    out = np.full((64, 64, 3), 7, np.uint8)
    assert np.array_equal(render_frame(base_state(), out=out), render_frame(base_state()))
    with pytest.raises(ValueError, match="dish_type"):
        render_frame(base_state(dish_type=N_GLYPHS, n_types=N_GLYPHS + 1))


def backlog_bucket(backlog, cap):
    """Quarters of the cap, (0, 1/4], (1/4, 1/2], ... (an empty backlog is bucket 0)."""
    return max(math.ceil(4 * min(backlog / cap, 1.0) - 1e-9) - 1, 0)


def synthetic_states(rng, n):
    """Random states that cover every field; the backlog is a random walk."""
    backlog = 0
    for t in range(n):
        backlog = int(np.clip(backlog + rng.integers(-3, 4), 0, 30))
        yield base_state(minute=t % 480, backlog=backlog, dish_type=int(rng.integers(4)),
                         arrival_rate=rng.uniform(), good_this_step=int(rng.integers(5)),
                         errors_this_step=int(rng.integers(2)), errors_so_far=int(rng.integers(20)),
                         attempts_so_far=int(rng.integers(1, 300)),
                         last_action=tuple(rng.uniform(size=2)))


def shift_episode_states(seed, steps=None):
    """render_state() along one random-policy episode of the real shift env.

    Each episode draws its own action bias, so some episodes run slow and let the
    backlog build up while others clear it: every backlog bucket gets visited.
    """
    env = gym.make("robolabor/DishwashingShift-v0").unwrapped
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    centre = rng.uniform(0.1, 0.9, size=2)
    out, done, t = [], False, 0
    while not done and (steps is None or t < steps):
        a = np.clip(centre + rng.normal(0, 0.25, size=2), 0, 1).astype(np.float32)
        _, _, term, trunc, _ = env.step(a)
        out.append(dict(env.render_state()))
        done, t = term or trunc, t + 1
    return out


def features(states):
    """2x2-averaged pixels in [0, 1]: 32*32*3 = 3,072 features per frame."""
    frames = np.stack([render_frame(s) for s in states]).astype(np.float32) / 255.0
    return frames.reshape(len(frames), 32, 2, 32, 2, 3).mean((2, 4)).reshape(len(frames), -1)


def probe_accuracy(x_tr, y_tr, x_te, y_te, n_classes):
    """Multinomial logistic regression (a linear probe), held-out accuracy."""
    torch.manual_seed(0)
    x_tr, x_te = torch.from_numpy(x_tr), torch.from_numpy(x_te)
    y_tr = torch.from_numpy(np.asarray(y_tr))
    lin = torch.nn.Linear(x_tr.shape[1], n_classes)
    opt = torch.optim.LBFGS(lin.parameters(), lr=1, max_iter=150, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(lin(x_tr), y_tr) + 1e-4 * lin.weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        pred = lin(x_te).argmax(1).numpy()
    return float((pred == np.asarray(y_te)).mean())


def check_probe(train_states, test_states):
    x_tr, x_te = features(train_states), features(test_states)
    n_types = int(train_states[0]["n_types"])
    accs = {}
    for name, label, k in [
        ("dish_type", lambda s: int(s["dish_type"]), n_types),
        ("backlog", lambda s: backlog_bucket(s["backlog"], s["backlog_cap"]), 4),
    ]:
        y_tr = [label(s) for s in train_states]
        y_te = [label(s) for s in test_states]
        assert len(set(y_te)) >= 2, f"{name}: held-out frames cover only {set(y_te)}"
        accs[name] = probe_accuracy(x_tr, y_tr, x_te, y_te, k)
    assert accs["dish_type"] >= 0.95, accs
    assert accs["backlog"] >= 0.95, accs
    return accs


def test_linear_probe_reads_state_from_synthetic_frames():
    rng = np.random.default_rng(0)
    states = list(synthetic_states(rng, 2400))
    check_probe(states[:1800], states[1800:])


@pytest.mark.skipif(not HAS_SHIFT, reason="robolabor.envs.shift not available")
def test_linear_probe_reads_state_from_shift_episodes():
    """Train on frames of some random-policy episodes, test on other episodes' frames."""
    train = [s for seed in range(10) for s in shift_episode_states(seed)]
    test = [s for seed in (100, 101, 102) for s in shift_episode_states(seed)]
    assert len(test) >= 300, len(test)
    check_probe(train, test)


@pytest.mark.skipif(not HAS_SHIFT, reason="robolabor.envs.shift not available")
def test_frames_change_over_a_shift_episode():
    frames = [render_frame(s).tobytes() for s in shift_episode_states(seed=3)]
    assert len(frames) >= 100
    assert len(set(frames)) >= 0.9 * len(frames)  # (120 of 120 at the default params)


def test_frames_change_over_synthetic_states():
    frames = [render_frame(s).tobytes() for s in synthetic_states(np.random.default_rng(1), 200)]
    assert len(set(frames)) >= 190
