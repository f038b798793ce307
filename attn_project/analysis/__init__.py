"""One run → its report: scoring mask maps, statistics, baselines, interventions, and the
report's numbers and writer."""
