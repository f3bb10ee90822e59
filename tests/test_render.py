"""The shared offscreen renderer's per-process state (the GL passes are checked through CLE-MV and SMPL)."""

from scenebench.generators.sources import render


def test_per_process_makes_once_and_never_hands_a_parents_state_to_a_child(monkeypatch):
    monkeypatch.setattr(render, "_PER_PROCESS", {})  # leave this process's real renderers alone
    made = []

    def make(tag):
        made.append(tag)
        return object()

    parent = render.per_process(("test", 1), lambda: make("parent"))
    assert render.per_process(("test", 1), lambda: make("again")) is parent and made == ["parent"]
    other = render.per_process(("test", 2), lambda: make("other key"))
    assert other is not parent
    monkeypatch.setattr(render.os, "getpid", lambda: -1)  # as in a forked child
    child = render.per_process(("test", 1), lambda: make("child"))
    assert child is not parent and made == ["parent", "other key", "child"]
    assert not [k for k in render._PER_PROCESS if k[0] != -1]  # the parent's values are dropped
