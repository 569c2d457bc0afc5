"""Models: sql/models in dependency order, data tests, the catalog."""
