"""OpenID Connect identity providers, external sign-in and linked identities."""
