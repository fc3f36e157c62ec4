"""Server settings."""
