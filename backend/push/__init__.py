"""Live connections to pages, and the Redis pub/sub fan-out that reaches whichever web
worker holds a page's connection."""
