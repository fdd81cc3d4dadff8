"""People and access over HTTP: sign-up and sign-in, sessions, people, MFA, single sign-on, API
keys, the organisation's access settings and the audit trail."""
