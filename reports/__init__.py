"""What the mail did: campaign results, revenue attribution and segment movements (pure logic; the SQL is in store/)."""
