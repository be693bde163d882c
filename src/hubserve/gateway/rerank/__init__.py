"""Cohere's and Jina's rerank API: ``POST /v1/rerank`` (and Cohere's ``/v2/rerank``)."""
