"""The watch's alerts: records, lifecycle, grouping, silences, inhibition, history."""
