"""Data packs: collection, round trip, versions, verification, replay loading, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from robolabor.agents.replay import ReplayBuffer
from robolabor.cli import main
from robolabor.data.packs import (
    PackError,
    collect,
    list_packs,
    load_into_replay,
    make_policy,
    open_pack,
    verify_pack,
    write_pack,
)
from robolabor.experiments.rollout import make_env

SHORT = {"shift_minutes": 12, "initial_backlog": 5}


@pytest.fixture()
def transitions():
    env = make_env("robolabor/DishwashingShift-v0", SHORT)
    act, record = make_policy("random", env, seed=0)
    return collect(env, act, episodes=3, seed=7), record


def test_collect_records_every_step(transitions):
    tr, record = transitions
    assert len(tr) == 36 and tr.n_episodes == 3 and record["kind"] == "random"
    assert tr.obs.shape == (36, 10) and tr.action.shape == (36, 2)
    assert tr.terminated.sum() == 3 and np.all(tr.broken <= tr.attempts)
    np.testing.assert_array_equal(tr.obs[1:12], tr.next_obs[:11])  # one episode, in order


def test_round_trip_versions_and_listing(transitions, tmp_path):
    tr, record = transitions
    p1 = write_pack(tr, "k", "customer", "robolabor/DishwashingShift-v0", SHORT, record, tmp_path)
    p2 = write_pack(tr.subset(slice(0, 12)), "k", "customer", "robolabor/DishwashingShift-v0",
                    SHORT, record, tmp_path)
    assert (p1.name, p2.name) == ("v1", "v2")
    newest, first = open_pack("k", tmp_path), open_pack("k@v1", tmp_path)
    assert newest.ref == "k@v2" and len(newest.transitions) == 12
    for col in ("obs", "action", "reward", "next_obs", "broken", "attempts", "terminated"):
        np.testing.assert_array_equal(getattr(first.transitions, col), getattr(tr, col))
    meta = first.meta
    assert meta["provenance"] == "customer" and meta["counts"]["transitions"] == 36
    assert meta["counts"]["good"] + meta["counts"]["broken"] == meta["counts"]["attempts"]
    assert [r["pack"] for r in list_packs(tmp_path)] == ["k@v1", "k@v2"]


def test_verify_detects_a_tampered_file(transitions, tmp_path):
    tr, record = transitions
    path = write_pack(tr, "k", "platform", "robolabor/DishwashingShift-v0", SHORT, record,
                      tmp_path)
    assert verify_pack("k", tmp_path)["ok"]
    data = path / "transitions.parquet"
    blob = bytearray(data.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    data.write_bytes(bytes(blob))
    with pytest.raises(PackError, match="does not match its manifest"):
        verify_pack("k", tmp_path)
    with pytest.raises(PackError, match="does not match"):
        open_pack("k", tmp_path)


def test_bad_names_provenance_and_versions(transitions, tmp_path):
    tr, record = transitions
    with pytest.raises(PackError, match="provenance"):
        write_pack(tr, "k", "stolen", "x", {}, record, tmp_path)
    with pytest.raises(PackError, match="pack name"):
        write_pack(tr, "../k", "customer", "x", {}, record, tmp_path)
    write_pack(tr, "k", "customer", "x", {}, record, tmp_path)
    with pytest.raises(PackError, match="no version"):
        open_pack("k@v9", tmp_path)
    with pytest.raises(PackError, match="not found"):
        open_pack("other", tmp_path)


def test_load_into_replay_costs_at_the_receiving_target(transitions, tmp_path):
    tr, record = transitions
    write_pack(tr, "k", "customer", "x", {}, record, tmp_path)
    pack = open_pack("k", tmp_path)
    buf = ReplayBuffer(100, (10,), np.float32, 2)
    assert load_into_replay(pack, buf, dual_target=0.03) == 36 and len(buf) == 36
    np.testing.assert_allclose(buf.cost[:36], tr.broken - 0.03 * tr.attempts, rtol=1e-5)
    np.testing.assert_array_equal(buf.obs[:36], tr.obs)
    with pytest.raises(PackError, match="do not fit"):
        load_into_replay(pack, ReplayBuffer(10, (4,), np.float32, 2), 0.03)


def test_pack_cli_end_to_end(tmp_path, capsys):
    variant = tmp_path / "kitchen.yaml"
    variant.write_text("env:\n  config: {shift_minutes: 12, initial_backlog: 5}\n")
    store = str(tmp_path / "store")
    assert main(["pack", "create", "kitchen", "--env", str(variant), "--provenance",
                 "customer", "--policy", "random", "--episodes", "2", "--store", store,
                 "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["pack"] == "kitchen@v1" and created["transitions"] == 24
    assert main(["pack", "list", "--store", store, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["provenance"] == "customer"
    assert main(["pack", "show", "kitchen", "--store", store, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["env_source"] == "kitchen.yaml" and shown["policy"]["kind"] == "random"
    assert main(["pack", "verify", "kitchen@v1", "--store", store]) == 0
    capsys.readouterr()
    assert main(["pack", "verify", "nothing", "--store", store]) == 1
    assert "not found" in capsys.readouterr().err
    assert main(["pack", "create", "x", "--provenance", "customer", "--policy", "magic",
                 "--episodes", "1", "--store", store]) == 1
    assert "unknown policy" in capsys.readouterr().err


def test_corruptions_keep_size_and_break_what_they_say(transitions):
    from robolabor.data.packs import corrupt

    tr, _ = transitions
    ra = corrupt(tr, "random_actions", seed=1)
    assert len(ra) == len(tr) and not np.allclose(ra.action, tr.action)
    np.testing.assert_array_equal(ra.reward, tr.reward)
    sh = corrupt(tr, "shuffled_rewards", seed=1)
    assert sorted(sh.reward.tolist()) == sorted(tr.reward.tolist())
    assert not np.array_equal(sh.reward, tr.reward)
    np.testing.assert_array_equal(sh.action, tr.action)
    du = corrupt(tr, "duplicates")
    assert len(du) == len(tr) and du.n_episodes == 1
    with pytest.raises(Exception, match="unknown"):
        corrupt(tr, "bitflip")


# ------------------------------------------------------------------- video packs
@pytest.fixture()
def video():
    env = make_env("robolabor/DishwashingShiftVideo-v0", SHORT, frames=4)
    act, record = make_policy("random", env, seed=0)
    seen = []

    def recording(obs, e):
        seen.append(np.array(obs))
        return act(obs, e)

    tr = collect(env, recording, episodes=2, seed=3)
    env.close()
    return tr, record, seen


def test_video_pack_stores_each_frame_once_and_reads_the_stacks_back(video, tmp_path):
    tr, record, seen = video
    assert tr.is_video and tr.obs.shape == (24, 4, 3, 64, 64) and len(seen) == 24
    np.testing.assert_array_equal(tr.obs[np.arange(24)], np.stack(seen))
    np.testing.assert_array_equal(tr.next_obs[:11], np.stack(seen[1:12]))
    write_pack(tr, "cam", "customer", "robolabor/DishwashingShiftVideo-v0", {}, record,
               tmp_path)
    pack = open_pack("cam", tmp_path)
    assert pack.meta["frame_stack"] == 4 and pack.meta["frames"] == 2 * (4 + 12)
    assert isinstance(pack.transitions.obs.frames, np.memmap)   # read lazily from disk
    np.testing.assert_array_equal(pack.transitions.obs[np.arange(24)], np.stack(seen))
    np.testing.assert_array_equal(pack.transitions.next_obs[5], tr.next_obs[5])
    assert verify_pack("cam", tmp_path)["files"] == ["frames.npy", "transitions.parquet"]
    # a subset keeps only the frames its stacks need, and reads back the same stacks
    from robolabor.data.packs import corrupt

    dup = corrupt(tr, "duplicates")
    write_pack(dup, "cam-dup", "synthetic", "x", {}, record, tmp_path)
    again = open_pack("cam-dup", tmp_path)
    assert again.meta["frames"] == 4 + 12
    np.testing.assert_array_equal(again.transitions.obs[np.arange(24)], dup.obs[np.arange(24)])
    frames = pack.path / "frames.npy"
    blob = bytearray(frames.read_bytes())
    blob[-1] ^= 0xFF
    frames.write_bytes(bytes(blob))
    with pytest.raises(PackError, match="does not match its manifest"):
        open_pack("cam", tmp_path)


def test_video_pack_loads_into_a_frame_stack_replay(video, tmp_path):
    tr, record, _ = video
    write_pack(tr, "cam", "customer", "x", {}, record, tmp_path)
    pack = open_pack("cam", tmp_path)
    buf = ReplayBuffer(100, (4, 3, 64, 64), np.uint8, 2, frame_stack=4)
    assert load_into_replay(pack, buf, dual_target=0.03) == 24
    np.testing.assert_array_equal(buf.observations(np.arange(24)), tr.obs[np.arange(24)])
    got = buf.transitions(np.arange(24))
    np.testing.assert_array_equal(got["next_obs"], tr.next_obs[np.arange(24)])
    with pytest.raises(PackError, match="do not fit"):
        load_into_replay(pack, ReplayBuffer(10, (10,), np.float32, 2), 0.03)
