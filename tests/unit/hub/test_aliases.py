from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubserve.errors import AliasLoop, Conflict, InvalidModelId, ModelExists, ModelNotFound
from hubserve.hub.aliases import AliasTable
from hubserve.hub.importers import import_folder
from hubserve.hub.resolve import Resolved, candidates
from hubserve.hub.store import HubStore
from hubserve.tasks.registry import supported_tasks
from hubserve.types.names import ModelId, check_reference
from tests.conftest import import_tiny


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path, tiny_dirs: dict[str, Path]) -> HubStore:
    store = HubStore(tmp_path / "hub")
    for model in ("a/embed", "b/embed", "a/cls"):
        kind = "cls" if model.endswith("cls") else "embed"
        import_tiny(store, tiny_dirs[kind], model)
    return store


def test_add_follow_remove(store: HubStore) -> None:
    store.add_alias("hub/alias", "a/embed")
    store.add_alias("hub/chain", "hub/alias")
    assert store.aliases.follow("hub/chain") == "a/embed"
    assert store.aliases.all() == {"hub/alias": "a/embed", "hub/chain": "hub/alias"}
    assert store.aliases.remove("hub/chain") == "hub/alias"
    assert store.aliases.target_of("hub/chain") is None
    with pytest.raises(ModelNotFound):
        store.aliases.remove("hub/chain")


def test_refusals(store: HubStore) -> None:
    with pytest.raises(Conflict, match="may not shadow"):
        store.add_alias("a/cls", "a/embed")
    with pytest.raises(ModelNotFound, match="neither a model"):
        store.add_alias("hub/x", "a/none")
    with pytest.raises(InvalidModelId):
        store.add_alias("a/b/c", "a/embed")
    store.add_alias("hub/one", "a/embed")
    store.add_alias("hub/two", "hub/one")
    with pytest.raises(AliasLoop):
        store.add_alias("hub/one", "hub/two", replace=True)
    assert store.aliases.target_of("hub/one") == "a/embed"  # a refused change writes nothing
    with pytest.raises(Conflict, match="exists"):
        store.add_alias("hub/one", "a/cls")
    store.add_alias("hub/one", "a/cls", replace=True)
    assert store.aliases.follow("hub/two") == "a/cls"


def test_no_model_may_take_an_alias_name(store: HubStore, tiny_dirs: dict[str, Path]) -> None:
    store.add_alias("hub/taken", "a/embed")
    with pytest.raises(ModelExists, match="is an alias"):
        import_folder(
            store,
            tiny_dirs["cls"],
            ModelId.parse("hub/taken"),
            supported_tasks=supported_tasks(),
            show_progress=False,
        )


def test_another_process_sees_changes_after_the_recheck_time(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "aliases.json"
    mine = AliasTable(path, recheck_s=1.0, clock=clock)
    assert mine.all() == {}
    path.write_text(json.dumps({"x/y": "a/embed"}))  # another process
    assert mine.all() == {}
    clock.now = 1.0
    assert mine.all() == {"x/y": "a/embed"}


def test_candidates(store: HubStore) -> None:
    assert candidates(store, "a/embed") == [Resolved(ModelId("a", "embed"), "a/embed")]
    assert candidates(store, "a/missing") == [Resolved(ModelId("a", "missing"), "a/missing")]  # caller checks
    assert candidates(store, "cls") == [Resolved(ModelId("a", "cls"), "cls")]
    assert {r.model_id for r in candidates(store, "embed")} == {ModelId("a", "embed"), ModelId("b", "embed")}
    store.add_alias("bare", "a/cls")
    store.add_alias("org/only-alias", "b/embed")
    assert candidates(store, "bare") == [Resolved(ModelId("a", "cls"), "bare")]
    assert candidates(store, "only-alias") == [Resolved(ModelId("b", "embed"), "only-alias")]
    assert candidates(store, "nothing") == []


def test_a_dangling_alias_is_model_not_found(store: HubStore) -> None:
    store.add_alias("org/gone", "a/cls")
    store.add_alias("gone-too", "org/gone")
    store.remove(ModelId.parse("a/cls"))
    with pytest.raises(ModelNotFound, match="org/gone points to a/cls"):
        candidates(store, "org/gone")
    with pytest.raises(ModelNotFound, match="points to a/cls"):
        candidates(store, "gone-too")
    assert candidates(store, "gone") == []  # a bare name skips what serves nothing


@pytest.mark.parametrize("text", ["name", "org/name", "a.b-c_d"])
def test_references_accept_both_forms(text: str) -> None:
    assert check_reference(text) == text


@pytest.mark.parametrize("text", ["", "a/b/c", "../x", "a/..", "-x", "a b"])
def test_references_refuse_the_rest(text: str) -> None:
    with pytest.raises(InvalidModelId):
        check_reference(text)
