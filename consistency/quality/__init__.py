"""Data quality against trusted ground truth: gold, human-level performance, model reports, label issues."""
