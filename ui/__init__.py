"""The web workspace (`segmail ui`, or `[ui] listen` in `segmail run`): segments, rules, templates,
sends and predictions in the browser, rendered on the server from the jobs the CLI runs.

The top layer: it imports jobs/ and below, and only the CLI (jobs/cli/) imports it, to serve it.
"""
