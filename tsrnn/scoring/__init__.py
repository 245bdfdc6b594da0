"""The detector: channels → normalizer → threshold → events (numpy only).

The names of what varies are defined here, once, without numpy, so that configuration and the
command line can check settings against them without importing the registries; each registry
(thresholds.METHODS, the channel classes) is keyed by these names, and a test checks they agree.
"""

CHANNELS = ("forecast", "novelty", "range")  # in the order they are fused; `range` lifts the score to a floor
RATIO_CHANNELS = ("forecast", "novelty")  # normalised by their running tail quantile
NOVELTY_KINDS = ("knn", "autoencoder", "none")
THRESHOLD_METHODS = ("fixed", "quantile", "pot", "dynamic")
ERROR_KINDS = ("abs", "squared", "horizon", "both", "blend", "mahalanobis")
FREEZE_SCOPES = (
    "column",
    "series",
    "none",
)  # what an open incident keeps from learning: its columns, every column, nothing
