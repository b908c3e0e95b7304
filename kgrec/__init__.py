"""The `kgrec` command line: the composition root that wires the stages (load, train, evaluate, serve, ...).

It sits above graph/, loaders/, gnn/ and api/ and is imported by none of them. `cli.py` builds the parser,
`options.py` declares the options several commands share, and each command lives in its own module under
`commands/`.
"""
