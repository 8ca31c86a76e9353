"""Security events: subscriptions, the outbox and delivery (RFC 8417, 8935, 8936)."""
