"""Multi-factor authentication: enrolment, backup codes, the admin reset and MFA login."""
