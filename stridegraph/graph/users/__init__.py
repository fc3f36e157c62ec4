"""Users: types, queries, profile and admin mutations."""
