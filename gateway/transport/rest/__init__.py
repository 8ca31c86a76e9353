"""REST transport: FastAPI app over the service core."""

from gateway.transport.rest.app import create_app

__all__ = ["create_app"]
