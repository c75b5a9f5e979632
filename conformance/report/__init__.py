"""Run reports: from a run's results.json, its CSV and HTML page, and `reports/latest`."""
