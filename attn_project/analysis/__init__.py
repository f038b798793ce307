"""Measuring attention: metrics, baselines, reports, studies and figures."""
