"""The passkey settings (issue 16): RP id and origins default from PUBLIC_URL, can be given
explicitly, and a bad value names its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from stridegraph.config import ConfigError, load_settings


def test_defaults_come_from_the_public_url(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "STRIDEGRAPH_DATA_DIR": str(tmp_path),
            "STRIDEGRAPH_PUBLIC_URL": "https://fit.example.org:8443/api",
        }
    )
    assert settings.passkey_rp_id == "fit.example.org"
    assert settings.passkey_origins == ("https://fit.example.org:8443",)
    assert settings.webauthn_user_verification == "preferred"
    assert settings.passwordless_signup is False


def test_explicit_values(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "STRIDEGRAPH_DATA_DIR": str(tmp_path),
            "STRIDEGRAPH_PUBLIC_URL": "https://api.example.org",
            "STRIDEGRAPH_WEBAUTHN_RP_ID": "Example.org",
            "STRIDEGRAPH_WEBAUTHN_ORIGINS": "https://app.example.org, https://example.org/",
            "STRIDEGRAPH_WEBAUTHN_USER_VERIFICATION": "REQUIRED",
            "STRIDEGRAPH_PASSWORDLESS_SIGNUP": "true",
        }
    )
    assert settings.passkey_rp_id == "example.org"
    assert settings.passkey_origins == ("https://app.example.org", "https://example.org")
    assert settings.webauthn_user_verification == "required"
    assert settings.passwordless_signup is True


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WEBAUTHN_RP_ID", "https://example.org"),
        ("WEBAUTHN_RP_ID", "example.org:443"),
        ("WEBAUTHN_ORIGINS", "example.org"),
        ("WEBAUTHN_ORIGINS", "https://example.org/app"),
        ("WEBAUTHN_ORIGINS", "ftp://example.org"),
        ("WEBAUTHN_USER_VERIFICATION", "sometimes"),
        ("PASSWORDLESS_SIGNUP", "maybe"),
    ],
)
def test_bad_values_name_the_variable(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({"STRIDEGRAPH_DATA_DIR": str(tmp_path), f"STRIDEGRAPH_{variable}": value})
    assert raised.value.variable == f"STRIDEGRAPH_{variable}"
