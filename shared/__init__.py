"""Code shared by the feed, the UI and the supervisor: models, codec, config, clocks."""
