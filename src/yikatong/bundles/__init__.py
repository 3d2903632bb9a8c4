"""“一件事” bundled applications: one application, the tasks of several domains, one status."""
