"""Who is asking: access tokens, the principal a request acts as, and the audit trail."""
