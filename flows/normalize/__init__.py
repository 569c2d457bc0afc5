"""Normalize: the contract; one document -> rows for every table | Rejection; worker batches."""
