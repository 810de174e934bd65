"""The command line: the only place that parses options, prints or exits.

``entry`` (the console script: Ctrl-C safe from the first instruction), ``app`` (the typer
app, one thin command per operation, the error funnel ``run``), ``options`` (the option
declarations), ``output`` (stdout/stderr, the ``--json`` frame, option checks), ``render``
(one renderer per result type), ``plot`` (``stats --plot``), ``tuning`` (the interpreter-wide
switches, applied by the entry point only).

May import: api and everything below it. Every module here is internal.
"""
