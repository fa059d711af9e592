"""Helpers the tasks share: templating, names, results, dry runs, lifecycle steps, OpenLineage, build waits,
tracked runs, polling pace, and the facts read off API answers."""
