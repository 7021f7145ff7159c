"""Everything ``migrate`` installs into an OpenEMR database and checks afterwards:
the upgrade files (through :mod:`aesthetic_inventory.migrations`), the triggers, the
service and module rows."""
