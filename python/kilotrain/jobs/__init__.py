"""Jobs: what a command does, as a library call. A job wires a model, a data set, a plan and an
engine chosen by name into one run and returns its report (a dict the CLI prints or dumps as
JSON); the CLI only parses arguments and prints."""
