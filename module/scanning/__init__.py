"""GS1 scanning: receive, count and record the lot used at the chair by scan."""
