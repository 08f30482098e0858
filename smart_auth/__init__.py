"""smart_auth package."""
