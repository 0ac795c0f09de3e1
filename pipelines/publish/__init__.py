"""Publication: quality gate, disclosure control, write-audit-publish."""
