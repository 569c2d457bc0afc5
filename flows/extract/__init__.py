"""Extract: sources -> files -> front matter (FrontMatter | Rejection)."""
