"""The ``geoverify`` command line: a layer above the library and the service (it alone imports both)."""
