"""Passkeys (WebAuthn): registration, sign-in and management."""
