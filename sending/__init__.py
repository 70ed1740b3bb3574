"""Mail planning and rendering: time zones, templates, buckets (pure logic, no ESP calls)."""
