"""Operations: every metric in one registry, redaction of secrets, log formats and set-up."""
