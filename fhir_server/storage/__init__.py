"""Storage (DESIGN.md "Storage model"): PostgreSQL through psycopg 3, resources as JSONB, versioned migrations."""
