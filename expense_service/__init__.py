"""expense_service: the ledger of expenses and income, categories, CSV import and export."""
