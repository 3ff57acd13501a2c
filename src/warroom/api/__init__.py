"""The HTTP side: REST (with an OpenAPI document), the live stream and the wall page."""
