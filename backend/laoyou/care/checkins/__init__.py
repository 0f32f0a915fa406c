"""The daily check-in (每日报平安): a window each day, and the escalation of a missed one."""
