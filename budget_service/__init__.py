"""budget_service: monthly budgets, their status, threshold alerts and hard limits."""
