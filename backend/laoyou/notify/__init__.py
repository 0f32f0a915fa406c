"""Web push: VAPID keys, device subscriptions, preferences, the outbox and its sender."""
