"""The web face: the materials API under /api/v1 and the review page (FastAPI + uvicorn).

``app.create_web_app`` builds the ASGI application from the composition root
(:class:`~aesthetic_inventory.bootstrap.App`); ``server.serve`` runs it.
"""
