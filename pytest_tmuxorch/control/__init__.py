"""The control-mode transport: :mod:`.protocol` (pure parsing and formatting) under
:mod:`.client` (the connection, its reader thread, routing and fallback)."""
