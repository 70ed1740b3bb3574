"""Segment logic: rule config, the rule language compiled to SQL, evaluation and membership diffs."""
