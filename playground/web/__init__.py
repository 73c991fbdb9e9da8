"""The page's server: static files, JSON endpoints for what people do, and live updates."""

from playground.web.server import serve_page

__all__ = ["serve_page"]
