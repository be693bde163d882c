"""Turn the name a client asked for into the model that serves it: an id, an alias, or a bare name."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from hubserve.errors import AliasLoop, ModelNotFound
from hubserve.types.names import ModelId, Resolved, check_reference

if TYPE_CHECKING:
    from hubserve.hub.store import HubStore


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
        if "/" in alias and alias.rpartition("/")[2] == text:
            with contextlib.suppress(ModelNotFound, AliasLoop):  # one that serves nothing means nothing
                found.append(Resolved(_through_alias(store, alias).model_id, text))
    return found


def _through_alias(store: HubStore, alias: str) -> Resolved:
    final = store.aliases.follow(alias)
    if not store.holds(final):
        raise ModelNotFound(f"Alias {alias} points to {final}, which is not in the hub")
    return Resolved(ModelId.parse(final), alias)
