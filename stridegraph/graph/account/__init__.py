"""Account lifecycle: sign-up, e-mail verification, password reset, e-mail change."""
