"""user_service: accounts, passwords, sessions and the tokens everyone else verifies."""
