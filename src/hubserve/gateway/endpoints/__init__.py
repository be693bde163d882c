"""Inference Endpoints: the ``/v2/endpoint`` management API, the controller, and each endpoint's own URL."""
