"""extensions package."""
