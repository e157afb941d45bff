"""Independent traffic worlds used to measure detection quality on traffic the detector was not built around."""
