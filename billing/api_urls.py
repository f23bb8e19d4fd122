"""API routes of this app, mounted under /api/v3/."""

urlpatterns: list = []
