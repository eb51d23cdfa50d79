"""Command-line tools that prepare scenes (structure-from-motion, dataset packing)."""
