"""Provider-neutral two-way sync machinery (see README.md in this package)."""
