"""Text made safe for a shell (:func:`lungsegdb_cli.utils.textsafe.shell_word`): the commands
messages tell the user to run (the pin line, the manual step, the not-downloaded hint)."""

from __future__ import annotations


def test_a_word_for_the_shell_survives_the_shell(tmp_path) -> None:
    """The commands messages tell the user to run quote their paths (a ``'`` in one too):
    the shell gives back exactly the word."""
    import subprocess

    # internals: the quoting every "run:" hint uses
    from lungsegdb_cli.utils.textsafe import shell_word

    for word in ["/data/Bob's scans", "a b$HOME`x`", "''", "plain"]:
        got = subprocess.run(
            ["sh", "-c", f"printf %s {shell_word(word)}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert got == word
    import doctest

    from lungsegdb_cli.utils import textsafe

    assert doctest.testmod(textsafe).failed == 0
