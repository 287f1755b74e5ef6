"""The HTTP service: the FastAPI app, inbound routes, /status, the OpenAPI schema, hot reload."""
