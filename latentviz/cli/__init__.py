"""The command line: the one composition root that wires core, reports and dashboards together."""
