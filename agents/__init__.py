"""Ready-made steps users plug into graphs."""
