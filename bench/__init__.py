"""Benchmarks for Aesthetic Inventory: a generated clinic, the seed's approach as a
baseline comparator, and a runner (``python -m bench --scale quick|full``)."""
