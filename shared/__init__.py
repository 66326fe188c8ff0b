"""The small library every service uses: settings, logging, Mongo, events, outbox, auth, health."""
