"""pytest plugin entry point (``pytest11``): options, markers, report hooks and fixtures."""
