"""Helpers the tasks share: templating, names, results, dry runs, lifecycle steps, OpenLineage, build waits
and tracked runs."""
