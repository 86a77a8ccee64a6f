"""The console's pages, as the routes ``create_app`` takes: People, a person, Review, a review
group, Activity, and the pictures they show (``console_app`` is the console with all of them)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from facepipe_tools.console import activity_views, people_views, review_views
from facepipe_tools.console.app import create_app
from facepipe_tools.console.backend import ConsoleBackend

__all__ = ["PAGES", "console_app"]

PAGES: list[BaseRoute] = [*people_views.ROUTES, *review_views.ROUTES, *activity_views.ROUTES]


def console_app(backend: ConsoleBackend, *, token: str | None = None) -> Starlette:
    """The console over ``backend`` with every page (``create_app`` with ``PAGES``)."""
    return create_app(backend, token=token, routes=PAGES)
