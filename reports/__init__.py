"""Reports: what the mail did and caused (holdout lift, A/B intervals), between sending and jobs."""
