"""tiff."""
