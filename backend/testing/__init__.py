"""The real-server harness for tests, benchmarks and local runs: private ``redis-server`` and
``uvicorn`` processes on free ports, waiting for them (and for other conditions), and how
Chromium is launched.

Never imported by the product's own layers (``backend.web``, ``backend.domain``,
``backend.core``, ``backend.store``): it starts processes and only exists to drive them from
outside. ``tests/`` and ``scripts/bench/`` import it, so neither depends on the other.
"""
