"""Open data: work orders in the Open311 GeoReport v2 format, read by anyone and filed with an API key."""
