"""gateway: the only public port. Verifies access tokens, rate-limits auth, proxies to services."""
