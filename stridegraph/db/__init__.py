"""Persistence: models, queries and Alembic migrations. Knows nothing of GraphQL."""
