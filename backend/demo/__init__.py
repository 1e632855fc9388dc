"""A small demo shop with the Beckon script tag pasted in, for trying the system locally."""
