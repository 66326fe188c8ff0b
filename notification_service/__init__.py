"""notification_service: in-app notifications, live push over SSE, and email."""
