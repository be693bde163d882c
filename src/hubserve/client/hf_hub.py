"""Point an installed huggingface_hub at a hubserve server, for code that calls it with Hub model ids.

huggingface_hub resolves a Hub model id by asking the Hub (``constants.ENDPOINT``) which provider serves
it, then posts to the router (``constants.INFERENCE_PROXY_TEMPLATE``); Inference Endpoints go to
``constants.INFERENCE_ENDPOINTS_ENDPOINT``. Only ``ENDPOINT`` (``HF_ENDPOINT``) and ``INFERENCE_ENDPOINT``
(``HF_INFERENCE_ENDPOINT``) come from the environment, and both are read once at import. What else this
changes was built from those values when ``huggingface_hub.inference`` was first imported (checked with
2.4.0): each provider helper holds its base URL (``_providers.PROVIDERS``), the chat auto-router a fixed
``https://router.huggingface.co`` that it only takes ``hf_`` tokens for, and ``hf_api.api`` (behind
``huggingface_hub.model_info`` and friends) its endpoint. Lookups already made are cached; those caches
are cleared too.
"""

from __future__ import annotations

from typing import Any

PROVIDER = "hf-inference"


def use_huggingface_hub(url: str) -> None:
    """Make huggingface_hub (Hub API, router, Inference Endpoints API) talk to the server at ``url``.

    Works whether or not ``huggingface_hub`` or its ``InferenceClient`` was imported before.
    """
    from huggingface_hub import constants, hf_api
    from huggingface_hub.inference import _providers

    base = url.rstrip("/")
    constants.ENDPOINT = base
    constants.INFERENCE_ENDPOINT = base
    constants.INFERENCE_PROXY_TEMPLATE = base + "/{provider}"
    constants.INFERENCE_ENDPOINTS_ENDPOINT = base + "/v2"
    hf_api.api.endpoint = base
    _repoint_providers(_providers, base)


def _repoint_providers(providers: Any, base: str) -> None:
    """Repoint the helpers built at import, whatever the constants were then."""
    from huggingface_hub.inference._providers import _common, hf_inference

    for helper in providers.PROVIDERS.get(PROVIDER, {}).values():
        helper.base_url = f"{base}/{PROVIDER}"
    router = providers.CONVERSATIONAL_AUTO_ROUTER
    router.base_url = base
    # The auto-router refuses any token but an hf_ one; a hubserve token is hs_.
    router._prepare_base_url = lambda api_key: base
    for cached in (
        _common._fetch_inference_provider_mapping,
        hf_inference._check_supported_task,
        hf_inference._fetch_recommended_models,
    ):
        cached.cache_clear()
