"""The embedded stack: SecantusDB, the local RabbitMQ and the six services as processes."""
