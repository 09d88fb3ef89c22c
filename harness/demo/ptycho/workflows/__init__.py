"""High-level workflows built on the model and persistence modules."""
