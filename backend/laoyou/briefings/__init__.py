"""Daily work briefings (工作简报): what the steward's team did today, for every household."""
