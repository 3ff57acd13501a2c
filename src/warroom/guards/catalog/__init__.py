"""The catalog guard: SKU scrambles and price errors, their blast radius, the response.

Nothing is imported here, so that `warroom --help` (which registers `commands`) does
not load polars: use `guard.CatalogGuard`, `snapshot.Snapshot`, `attach.attach`.
"""
