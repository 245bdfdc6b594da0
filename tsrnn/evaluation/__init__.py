"""Evaluation against labelled anomalies: NAB scoring, event and point metrics."""
