"""Care for elderly residents: the care ledger (关爱台账), the daily check-in (每日报平安) and home sensors."""
