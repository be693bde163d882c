"""The SDK's endpoint functions on a live server: create (the tutorial's ``type="protected"``), wait, call it
through ``.client``, update, pause, resume, scale to zero, list and delete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import hubserve
from hubserve.client.endpoints import InferenceEndpointTimeoutError
from hubserve.hub.store import HubStore
from tests.conftest import add_admin, import_tiny, running_server

EMBED = "test/tiny-embed"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, tiny_dirs: dict[str, Path]) -> Path:
    home = tmp_path_factory.mktemp("sdk-endpoints")
    store = HubStore(home / "hub")
    import_tiny(store, tiny_dirs["embed"], EMBED)
    import_tiny(store, tiny_dirs["llama"], "test/tiny-llama")
    (home / "root.token").write_text(add_admin(home, "root"))
    return home


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[str]:
    with running_server(home) as (url, _):
        yield url


@pytest.fixture(scope="module")
def token(home: Path) -> str:
    return (home / "root.token").read_text()


def test_an_endpoints_whole_life_through_the_sdk(server: str, token: str) -> None:
    endpoint = hubserve.create_inference_endpoint(
        "sdk-embed", repository=EMBED, type="protected", min_replica=1, base_url=server, token=token
    )
    assert endpoint.namespace == "root" and endpoint.type == "authenticated"
    assert endpoint.wait(timeout=120, refresh_every=0.2) is endpoint and endpoint.status == "running"
    assert endpoint.url and endpoint.task == "feature-extraction"

    vector = endpoint.client.feature_extraction("i love pizza")
    served = hubserve.InferenceClient(base_url=server, token=token).feature_extraction(
        "i love pizza", model=EMBED
    )
    np.testing.assert_allclose(vector, served, atol=1e-5)

    async def via_async() -> np.ndarray:
        async with endpoint.async_client as client:
            out: np.ndarray = await client.feature_extraction("i love pizza")
            return out

    np.testing.assert_allclose(asyncio.run(via_async()), vector, atol=1e-6)

    same = hubserve.get_inference_endpoint("sdk-embed", base_url=server, token=token)
    assert (same.name, same.repository, same.url) == (endpoint.name, endpoint.repository, endpoint.url)
    assert "sdk-embed" in [e.name for e in hubserve.list_inference_endpoints(base_url=server, token=token)]

    endpoint.update(min_replica=0, max_replica=2, scale_to_zero_timeout=5)
    assert endpoint.raw["compute"]["scaling"]["maxReplica"] == 2
    assert endpoint.pause().status == "paused"
    with pytest.raises(hubserve.EndpointUnavailableError) as paused:
        endpoint.client.feature_extraction("hi")
    assert paused.value.status == 503
    assert endpoint.resume().wait(timeout=120, refresh_every=0.2).status == "running"
    assert endpoint.resume().status == "running"  # running_ok: already running is fine
    assert endpoint.scale_to_zero().status == "scaledToZero"
    np.testing.assert_allclose(endpoint.client.feature_extraction("i love pizza"), vector, atol=1e-5)
    endpoint.delete()
    with pytest.raises(hubserve.ModelNotFoundError):
        endpoint.fetch()


def test_wait_gives_up_at_its_timeout_and_bad_bodies_are_typed_errors(server: str, token: str) -> None:
    endpoint = hubserve.create_inference_endpoint(
        "sdk-paused", repository=EMBED, base_url=server, token=token
    ).pause()
    with pytest.raises(InferenceEndpointTimeoutError, match="paused"):
        endpoint.wait(timeout=0.3, refresh_every=0.1)
    endpoint.delete()
    with pytest.raises(hubserve.ValidationError) as bad:
        hubserve.create_inference_endpoint("Not A Name", repository=EMBED, base_url=server, token=token)
    assert bad.value.status == 422
    with pytest.raises(hubserve.ModelNotFoundError):
        hubserve.get_inference_endpoint("no-such-endpoint", base_url=server, token=token)
