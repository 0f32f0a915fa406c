"""The assessment dashboard for officials: coverage, collection and satisfaction by month, read from billing,
tickets and support through their services, and the quarterly satisfaction survey residents answer."""
