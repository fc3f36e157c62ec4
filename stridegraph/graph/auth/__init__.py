"""Login, sessions, personal API tokens and password change."""
