"""The web app and HTTP API (``inferplan serve``; needs the ``web`` and ``report`` extras).

``app.py``: routes and limits; ``schemas.py``: request bodies with bounds; ``static/``: the page.
"""

from __future__ import annotations

__all__ = ["create_app"]


def create_app(limits=None):
    from inferplan.web.app import create_app as _create

    return _create(limits)
