"""Load suites: Locust users that run the harness's headless sign-in flows at volume.

Only `users`, `shapes`, `vpcd`, `locustfile` and `shapefile` import Locust (which
monkey-patches the process with gevent); they run in Locust's own processes, started by
`careid load`. Everything else here (pool, target, flows, instrument, slo, shape_math) is
plain Python that tests, the CLI and the benchmarks import freely.
"""
