"""The jwst pipeline stages and the corrections between them (1/f, background, associations)."""
