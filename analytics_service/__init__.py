"""analytics_service: rollups of expense events: summaries, trends, insights, forecasts."""
