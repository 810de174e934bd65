"""How far a command's control wanders through the package: modules crossed, returns, path.

    python benchmarks/callpath.py [--src DIR] [--pairs N] [--json] [download|export ...]

Two paths are measured, each in a fresh interpreter (a child process of this script):

* **download**: ``lungsegdb download --url http://127.0.0.1:PORT/LungSegDB.zip --no-drive
  --data-dir D -q`` -- from the CLI's options to the bytes on disk, extraction and commit
  included; the archive is a ``lungsegdb synth --pairs N`` archive (default 2 pairs per group)
  served by the standard library's HTTP server on 127.0.0.1 in this process;
* **export**: ``lungsegdb export nnunet OUT --data-dir D -q`` on the tree that download made --
  from the CLI to the files placed.

**The measure.** The child runs the command through the CLI's ``run(argv)`` under
``sys.setprofile`` (and ``threading.setprofile``, so worker threads count; worker
*processes* are not traced: the fixture is small, so every stage runs in the process itself,
and ``LUNGSEGDB_WORKERS=1`` is set). From the moment the CLI's command function is called
until it returns, it records, per thread, the **sequence of modules in which package code
runs**: a ``call`` event enters the module of the called function; a ``return`` event resumes
the module of the nearest package frame below it (frames of other libraries -- typer,
requests, the standard library -- are transparent). Code run while a module is being imported
(``<module>`` frames and what they call) is not part of the path. The sequence is collapsed to
**transitions** (a change of module), each a triple ``(from, to, kind)`` with ``kind`` ``call``
or ``return``. Loops repeat the same transitions once per block or per file, so the counts
are taken over the *distinct* transitions, which makes them independent of the archive's
size:

* **modules crossed**: the distinct modules the sequence visits;
* **transitions**: the distinct ``(from, to, kind)`` triples;
* **returns**: the distinct transitions into a module the thread had already left before
  (a callee returning to its caller is one; a stage calling back up into its caller's module
  is one more, and that call's own return another; a module entered from two places counts
  once per place).

A linear flow, one orchestrator calling each stage once in order, has ``returns`` = one per
stage (each returns to its caller); every bounce adds to it.

Module names are taken as they are (``lungsegdb_cli._download`` before the reorganisation,
``lungsegdb_cli.sources.download`` after), so ``--src`` pointing at a checkout of any commit
with a ``cli.run(argv)`` (``lungsegdb_cli/cli.py`` or ``lungsegdb_cli/cli/app.py``) measures
that commit with the same tool, e.g. before/after::

    git worktree add /tmp/old 794907b
    python benchmarks/callpath.py --src /tmp/old
    python benchmarks/callpath.py
    git worktree remove /tmp/old

The result is deterministic for a given commit (same fixture, same options); ``--json``
prints one document ``{"download": {...}, "export": {...}}`` with ``modules``, ``returns``,
``transitions``, ``exit``, ``path`` (the modules in order of first visit) and
``return_edges`` (the returns counted; ``--edges`` prints them) and ``call_edges`` (the
other transitions).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

PACKAGE = "lungsegdb_cli"
COMMANDS = ("download", "export")


# ---------------------------------------------------------------------------------------------
# the child: trace one command
# ---------------------------------------------------------------------------------------------
class Tracer:
    """Per-thread module sequences of the package code run inside one CLI command."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.active = False
        self.finished = False
        self.top: object = None
        self.seqs: dict[int, list[tuple[str, str]]] = {}  # thread -> [(module, kind)]

    @staticmethod
    def _importing(frame: object) -> bool:
        f = frame
        while f is not None:
            if f.f_code.co_name == "<module>" and f.f_globals.get("__name__", "").startswith(
                PACKAGE
            ):
                return True
            f = f.f_back
        return False

    @staticmethod
    def _package_frame(frame: object) -> object:
        f = frame
        while f is not None:
            name = f.f_globals.get("__name__", "")
            if name.startswith(PACKAGE) and f.f_code.co_name != "<module>":
                return f
            f = f.f_back
        return None

    def _enter(self, module: str, kind: str) -> None:
        seq = self.seqs.setdefault(threading.get_ident(), [])
        if not seq or seq[-1][0] != module:
            seq.append((module, kind))

    def profile(self, frame: object, event: str, arg: object) -> None:
        if self.finished or event not in ("call", "return"):
            return
        module = frame.f_globals.get("__name__", "")
        ours = module.startswith(PACKAGE) and frame.f_code.co_name != "<module>"
        if not self.active:
            if (
                event == "call"
                and ours
                and frame.f_code.co_name == self.command
                and (module == f"{PACKAGE}.cli" or module.startswith(f"{PACKAGE}.cli."))
            ):
                self.active, self.top = True, frame
                self._enter(module, "call")
            return
        if event == "call":
            if ours and not self._importing(frame):
                self._enter(module, "call")
            return
        if frame is self.top:
            self.finished = True
            return
        if not ours:
            return
        below = self._package_frame(frame.f_back)
        if below is not None and not self._importing(below):
            self._enter(below.f_globals["__name__"], "return")

    def summary(self) -> dict[str, object]:
        modules: list[str] = []
        edges: set[tuple[str, str, str]] = set()
        returns: set[tuple[str, str, str]] = set()
        for ident in sorted(self.seqs, key=lambda t: t != threading.main_thread().ident):
            seq = self.seqs[ident]
            seen: set[str] = set()
            for i, (module, kind) in enumerate(seq):
                if module not in modules:
                    modules.append(module)
                if i:
                    edge = (seq[i - 1][0], module, kind)
                    edges.add(edge)
                    if module in seen:
                        returns.add(edge)
                seen.add(module)
        short = [m[len(PACKAGE) + 1:] or m for m in modules]
        return {
            "modules": len(modules),
            "returns": len(returns),
            "transitions": len(edges),
            "path": short,
            "return_edges": sorted(_show(e) for e in returns),
            "call_edges": sorted(_show(e) for e in edges - returns),
        }


def _show(edge: tuple[str, str, str]) -> str:
    a, b, kind = edge
    return f"{a[len(PACKAGE) + 1:] or a} -> {b[len(PACKAGE) + 1:] or b} ({kind})"


def child(command: str, argv: list[str]) -> int:
    """Run ``argv`` through the CLI under the tracer; print the summary as JSON."""
    import importlib

    cli = importlib.import_module(f"{PACKAGE}.cli")
    if not hasattr(cli, "run"):
        cli = importlib.import_module(f"{PACKAGE}.cli.app")
    tracer = Tracer(command)
    threading.setprofile(tracer.profile)
    sys.setprofile(tracer.profile)
    try:
        code = cli.run(argv)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]
    out = tracer.summary()
    out["exit"] = code
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


# ---------------------------------------------------------------------------------------------
# the parent: fixture, server, one child per command
# ---------------------------------------------------------------------------------------------
def _env(src: Path | None) -> dict[str, str]:
    env = dict(os.environ, LUNGSEGDB_WORKERS="1", LUNGSEGDB_SYNC="0")
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    return env


def _quiet_handler(folder: Path) -> type[http.server.SimpleHTTPRequestHandler]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # no request log on stderr
            pass

    return functools.partial(Handler, directory=str(folder))  # type: ignore[return-value]


def measure(
    src: Path | None, pairs: int, commands: tuple[str, ...], workdir: Path | None = None
) -> dict[str, object]:
    """Measure ``commands`` on the code at ``src`` (None: the installed package), in a
    temporary folder under ``workdir`` (None: the system's), removed afterwards."""
    env = _env(src)
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="lsdb-callpath-", dir=workdir) as tmp:
        work = Path(tmp)
        synth = work / "synth"
        subprocess.run(
            [sys.executable, "-m", PACKAGE, "synth", str(synth), "--pairs", str(pairs),
             "--seed", "0", "-q"],
            check=True, env=env, stdout=subprocess.DEVNULL,
        )
        archive = next(p for p in sorted(synth.iterdir()) if p.name.endswith(".zip"))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _quiet_handler(synth))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/{archive.name}"
            data = work / "data"
            argvs = {
                "download": ["download", "--url", url, "--no-drive", "--data-dir", str(data),
                             "-q"],
                "export": ["export", "nnunet", str(work / "out"), "--data-dir", str(data), "-q"],
            }
            for command in COMMANDS:  # export needs the tree download made
                argv = argvs[command]
                if command not in commands:
                    if command == "download":
                        subprocess.run([sys.executable, "-m", PACKAGE, *argv], check=True,
                                       env=env, stdout=subprocess.DEVNULL)
                    continue
                proc = subprocess.run(
                    [sys.executable, __file__, "--child", command, "--", *argv],
                    env=env, capture_output=True, text=True, check=False,
                )
                if proc.returncode != 0 or not proc.stdout.strip():
                    raise RuntimeError(f"tracing {command} failed:\n{proc.stderr[-3000:]}")
                results[command] = json.loads(proc.stdout.strip().splitlines()[-1])
        finally:
            server.shutdown()
            server.server_close()
    return results


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:  # python callpath.py --child COMMAND -- ARGV...
        return child(argv[1], argv[3:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("commands", nargs="*", help="download, export (default: both)")
    ap.add_argument("--src", type=Path, default=None,
                    help="a checkout whose lungsegdb_cli to measure (default: the installed one)")
    ap.add_argument("--pairs", type=int, default=2, help="synth pairs per group (default 2)")
    ap.add_argument("--json", action="store_true", help="one JSON document on stdout")
    ap.add_argument("--edges", action="store_true", help="also list the returns, one a line")
    args = ap.parse_args(argv)
    if set(args.commands) - set(COMMANDS):
        ap.error(f"commands are {', '.join(COMMANDS)}")
    results = measure(args.src, args.pairs, tuple(args.commands or COMMANDS))
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for command, r in results.items():
        print(f"{command}: exit {r['exit']} | modules crossed: {r['modules']} | returns to a "
              f"module already left: {r['returns']} | transitions: {r['transitions']}")
        print("  " + " -> ".join(r["path"]))
        if args.edges:
            for edge in r["return_edges"]:
                print("    return: " + edge)
    return 0


if __name__ == "__main__":
    sys.exit(main())
