"""The read side: one read API over the published warehouse, formats, report, charts, export."""
