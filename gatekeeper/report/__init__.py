"""What a person reads: markdown, tables, CSV and the segment forest plot."""
