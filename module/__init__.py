"""Aesthetic Inventory for OpenEMR."""
__version__ = "0.1.0"
