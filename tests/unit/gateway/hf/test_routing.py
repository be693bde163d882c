"""The HF inference routes have one routing table: the lane that serves their POSTs and the schema agree."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute

from hubserve.gateway.hf.routes import router
from hubserve.gateway.lane import Target, inference_target

VALUES = {"namespace": "org", "name": "model.v1", "task": "fill-mask"}


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: VALUES[m.group(1)], path)


ROUTES = [r for r in router.routes if isinstance(r, APIRoute) and "POST" in r.methods]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.path)
def test_every_post_route_of_the_schema_is_one_the_lane_serves_with_the_same_target(route: APIRoute) -> None:
    params = set(re.findall(r"\{(\w+)\}", route.path))
    model = None if not params else ("org/model.v1" if "namespace" in params else "model.v1")
    expected = Target(model, "fill-mask" if "task" in params else None)
    assert inference_target(_concrete(route.path)) == expected


@pytest.mark.parametrize(
    "path",
    [
        "/models/org/model.v1",
        "/models/model.v1/pipeline/fill-mask",
        "/hf-inference/pipeline/fill-mask/org/model.v1",
        "/hf-inference/models/model.v1",
        "/",
    ],
)
def test_every_path_the_lane_serves_is_in_the_schema(path: str) -> None:
    assert any(route.path_regex.fullmatch(path) for route in ROUTES), path


@pytest.mark.parametrize(
    "path", ["/models", "/models/a/b/c", "/models/a//b", "/pipeline/fill-mask", "/v1/chat/completions", "/x"]
)
def test_paths_outside_the_table_go_on_to_the_app(path: str) -> None:
    assert inference_target(path) is None
    assert not any(route.path_regex.fullmatch(path) for route in ROUTES)
