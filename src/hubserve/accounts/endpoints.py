"""EndpointStore: Inference Endpoints' specs in the accounts database, so they outlive the gateway."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from hubserve.accounts.database import session_factory
from hubserve.accounts.schema import EndpointRow
from hubserve.accounts.store import as_utc, now_utc
from hubserve.errors import EndpointExists, EndpointNotFound
from hubserve.types.endpoints import EndpointSpec


@dataclass(frozen=True)
class StoredEndpoint:
    """A spec and who made and last changed it, when."""

    spec: EndpointSpec
    created_by: str
    updated_by: str
    created_at: datetime
    updated_at: datetime


class EndpointStore:
    """Create, read, replace and delete endpoint specs (blocking: call from a thread)."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def create(self, spec: EndpointSpec, by: str) -> StoredEndpoint:
        """Store a new spec; EndpointExists when the namespace already has one by that name."""
        now = now_utc()
        row = EndpointRow(
            namespace=spec.namespace,
            name=spec.name,
            spec=spec.model_dump_json(),
            created_by=by,
            updated_by=by,
            created_at=now,
            updated_at=now,
        )
        try:
            with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            raise EndpointExists(
                f"Endpoint {spec.name} already exists in {spec.namespace}; pick another name or delete it"
            ) from None
        return _stored(row)

    def list(self) -> list[StoredEndpoint]:
        """Every endpoint, by namespace and name."""
        with self._sessions() as session:
            rows = session.scalars(select(EndpointRow).order_by(EndpointRow.namespace, EndpointRow.name))
            return [_stored(row) for row in rows]

    def replace(self, spec: EndpointSpec, by: str) -> StoredEndpoint:
        """Store a changed spec in place of the old one."""
        with self._sessions.begin() as session:
            row = _row(session, spec.namespace, spec.name)
            row.spec = spec.model_dump_json()
            row.updated_by = by
            row.updated_at = now_utc()
            return _stored(row)

    def delete(self, namespace: str, name: str) -> None:
        """Forget an endpoint; EndpointNotFound if there is none."""
        with self._sessions.begin() as session:
            session.delete(_row(session, namespace, name))


def _row(session: object, namespace: str, name: str) -> EndpointRow:
    found = session.scalars(  # type: ignore[attr-defined]
        select(EndpointRow).where(EndpointRow.namespace == namespace, EndpointRow.name == name)
    ).first()
    if found is None:
        raise EndpointNotFound(f"Endpoint {name} does not exist in {namespace}")
    assert isinstance(found, EndpointRow)
    return found


def _stored(row: EndpointRow) -> StoredEndpoint:
    return StoredEndpoint(
        EndpointSpec.model_validate_json(row.spec),
        row.created_by,
        row.updated_by,
        as_utc(row.created_at),
        as_utc(row.updated_at),
    )
