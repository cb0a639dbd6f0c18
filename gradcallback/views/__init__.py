"""Views: what a person looks at, built from `Attribution` records (images, Markdown tables, notebook HTML,
terminal text, the progress bar)."""
