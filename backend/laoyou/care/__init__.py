"""Care for those who live alone: the care ledger, the daily check-in and the sensors that call for help."""
