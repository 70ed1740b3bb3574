"""Reports: what the mail did and caused — campaign results, revenue attribution, segment movements,
holdout lift and A/B intervals (pure logic; the SQL is in store/). Between sending and jobs."""
