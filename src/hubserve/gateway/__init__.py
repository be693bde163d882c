"""The HTTP gateway: route modules per protocol dialect over one ASGI app."""
