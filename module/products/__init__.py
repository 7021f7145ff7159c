"""Products: OpenEMR drugs with the module's package, counting unit and GTINs."""
