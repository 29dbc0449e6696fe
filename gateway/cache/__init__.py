"""The cache policy: the threshold, scope and exact-layer rules, above the stores."""
