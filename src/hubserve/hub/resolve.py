"""Turn the name a client asked for into the model that serves it: an id, an alias, or a bare name."""

from __future__ import annotations

from dataclasses import dataclass

from hubserve.errors import ModelNotFound
from hubserve.hub.names import ModelId, check_reference
from hubserve.hub.store import HubStore


@dataclass(frozen=True)
class Resolved:
    """The model that serves a request, and the name the client used for it."""

    model_id: ModelId
    name: str


def candidates(store: HubStore, text: str) -> list[Resolved]:
    """Every model ``text`` may mean; more than one only for a bare name held by several namespaces.

    An alias is followed to its model (ModelNotFound when that model is gone). ``namespace/name`` is
    taken as it is: whether it exists is for the caller to find out, with the visibility it knows.
    A bare ``name``, as the Hub's old canonical ids were, means the model or alias of that name in
    any namespace.
    """
    if store.aliases.target_of(text) is not None:
        check_reference(text)
        return [_through_alias(store, text)]
    if "/" in text:
        return [Resolved(ModelId.parse(text), text)]
    check_reference(text)
    found = [Resolved(model_id, text) for model_id in store.ids_named(text)]
    for alias in store.aliases.all():
        if alias.rpartition("/")[2] == text and "/" in alias:
            resolved = _through_alias(store, alias)
            found.append(Resolved(resolved.model_id, text))
    return found


def _through_alias(store: HubStore, alias: str) -> Resolved:
    final = store.aliases.follow(alias)
    model_id = ModelId.parse(final)
    if not store.exists(model_id):
        raise ModelNotFound(f"Alias {alias} points to {final}, which is not in the hub")
    return Resolved(model_id, alias)
