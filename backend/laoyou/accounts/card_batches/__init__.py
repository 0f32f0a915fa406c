"""Login cards for a whole building or community at once, printed eight to an A4 sheet.

A steward sees first who would get a card (one a household: its head, or else its first resident) and which
households are skipped (nobody lives there yet), then issues them all in one transaction.
"""
