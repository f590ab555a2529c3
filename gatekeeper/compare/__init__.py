"""Compare champion and candidate on the same rows: paired bootstrap, segments, discovery."""
