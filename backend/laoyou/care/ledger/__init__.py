"""The care ledger (关爱台账): consented records of elderly residents, their needs and the steward's visits."""
