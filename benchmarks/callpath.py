"""How far a command's control wanders through the package: modules crossed, returns, path.

    python benchmarks/callpath.py [--src DIR] [--pairs N] [--json] [--edges] [--spine]
                                  [download|export ...]

Two paths are measured, each in a fresh interpreter (a child process of this script):

* **download**: ``lungsegdb download --url http://127.0.0.1:PORT/LungSegDB.zip --no-drive
  --data-dir D -q`` -- from the CLI's options to the bytes on disk, extraction and commit
  included; the archive is a ``lungsegdb synth --pairs N`` archive (default 2 pairs per group)
  served by the standard library's HTTP server on 127.0.0.1 in this process;
* **export**: ``lungsegdb export nnunet OUT --data-dir D -q`` on the tree that download made --
  from the CLI to the files placed.

**The measure.** The child runs the command as the console script does (``--via entry``, the
default: ``cli.entry.main``, whose typer-free fast path serves ``download``; ``--via app``: the
typer app's ``run(argv)``, which a checkout without ``cli/entry.py`` also gets) under
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

**The spine** (``--spine``; always in ``--json``). The full measure counts every leaf helper
each stage visits (``_redact``, progress, hashing, ``envvars``, ``fsutil``, crash points), so
it is several times the issue's "about 14 modules and 14 returns". The spine is the path the
request and the data travel, from the CLI's command function down to the bytes on disk:

* **when bytes land**: a file under the destination (download: ``--data-dir``; export: OUT,
  and the ``.OUT.*`` staging, lock and moved-aside names beside it) is opened for writing
  (the ``open`` audit event, ``open()`` and ``os.open`` alike: mode ``w``/``a``/``x``/``+``
  or a write/create/truncate flag), or renamed, linked, symlinked or copied there
  (``os.rename`` -- ``os.replace`` included --, ``os.link``, ``os.symlink``,
  ``shutil.copyfile`` audit events, the target under the destination), or written (a
  ``c_call`` of ``write``/``writelines`` on a file object under the destination, or of
  ``os.write``/``os.writev``/``os.pwrite`` from package code, whose file the profiler
  cannot see) -- the archive, its resume sidecar, the tree's files, the manifest, the
  provenance, the journal and the lock for ``download``; the placed, linked and written
  files, the staging folder's rename and the lock for ``export``;
* **its chain**: the package frames on that thread's stack, from the command function
  down (a worker thread's frames follow those of the code that started the thread; a stack
  inside an import is not the path), consecutive frames of one module collapsed: a module
  chain such as ``cli.bodies > sources.download > archive.extract_write``;
* **the spine** is the union of the distinct chains. **modules crossed** = its distinct
  modules; **returns** = its distinct call edges (each call on the spine returns once, to
  the module it had left) plus its distinct **bounces** (an edge into a module already
  higher up the same chain, A > B > A: a stage calling back into its caller's module is a
  second return). A linear spine, one orchestrator calling each stage in order, has
  ``returns`` = ``modules`` - 1 and no bounce.

Also reported, not the headline: ``flow_returns``, the full measure's returns counted on the
full sequence with every module off the spine left out (how often control comes back among
the spine's own modules, calls into an already visited stage included), and ``spine_io``,
the same spine with the chains of the reads added (socket reads, and files read under the
destination or, for export, under ``--data-dir``: the archive read for extraction, the
tree's files, the records), both ends of "the path the data travel". Calibration against
the issue's numbers (taken at 794907b by an unwritten method) is in docs/performance.md.

The result is deterministic for a given commit (same fixture, same options); ``--json``
prints one document ``{"download": {...}, "export": {...}}`` with ``modules``, ``returns``,
``transitions``, ``exit``, ``path`` (the modules in order of first visit) and
``return_edges`` (the returns counted; ``--edges`` prints them) and ``call_edges`` (the
other transitions), and ``spine`` and ``spine_io``, each with ``modules``, ``returns``,
``bounces``, ``flow_returns``, ``path``, ``chains`` (``landed``: the first write of that
chain, run-specific parts of its name as ``*``; ``chain``: ``module.function`` of each
module's outermost frame), ``call_edges``, ``bounce_edges`` and ``flow_return_edges``.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

PACKAGE = "lungsegdb_cli"
COMMANDS = ("download", "export")


# ---------------------------------------------------------------------------------------------
# the child: trace one command
# ---------------------------------------------------------------------------------------------
class Tracer:
    """Per-thread module sequences of the package code run inside one CLI command."""

    def __init__(self, command: str, dest: str = "", source: str = "") -> None:
        self.command = command
        self.dest = os.path.realpath(dest) if dest else ""
        self.source = os.path.realpath(source) if source else ""
        self.active = False
        self.finished = False
        self.top: object = None
        self.seqs: dict[int, list[tuple[str, str]]] = {}  # thread -> [(module, kind)]
        #: the spine: (side, module chain) -> (what landed or was read, an example:
        #: "module.function" frames); side "write" (bytes landing) or "read" (bytes read)
        self.chains: dict[tuple[str, tuple[str, ...]], tuple[str, tuple[str, ...]]] = {}
        self.origins: dict[threading.Thread, list[tuple[str, str]]] = {}  # starter's frames

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

    # -- the spine: the package frames on the stack each time bytes land under the destination
    def _stack(self, frame: object) -> list[tuple[str, str]]:
        """The package frames from the command function down to ``frame`` (outermost first);
        a worker thread's frames follow those of the code that started the thread."""
        frames: list[tuple[str, str]] = []
        f = frame
        while f is not None and f is not self.top:
            name = f.f_globals.get("__name__", "")
            if name.startswith(PACKAGE):
                if f.f_code.co_name == "<module>":
                    return []  # code run by an import is not the path
                frames.append((name, f.f_code.co_name))
            f = f.f_back
        if f is self.top:
            frames.append((self.top.f_globals["__name__"], self.top.f_code.co_name))
            return frames[::-1]
        origin = self.origins.get(threading.current_thread())
        return origin + frames[::-1] if origin else []

    def _under_dest(self, path: object, folder: str | None = None) -> str | None:
        folder = self.dest if folder is None else folder
        if not folder or isinstance(path, int) or path is None:
            return None
        try:
            full = os.path.realpath(os.fsdecode(path))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        if full == folder or full.startswith(folder + os.sep):
            return os.path.relpath(full, folder)
        parent, name = os.path.split(folder)
        if full.startswith(os.path.join(parent, f".{name}.")):  # staged beside it
            return os.path.relpath(full, parent)
        return None

    def _read_from(self, path: object) -> str | None:
        """``path`` relative to the source or the destination folder, or None."""
        rel = self._under_dest(path, self.source)
        return rel if rel is not None else self._under_dest(path)

    def _land(self, frame: object, what: str, side: str = "write") -> None:
        frames = self._stack(frame)
        if not frames:
            return
        chain: list[str] = []
        shown: list[str] = []
        for module, function in frames:
            if not chain or chain[-1] != module:
                chain.append(module)
                shown.append(f"{module[len(PACKAGE) + 1 :]}.{function}")
        self.chains.setdefault((side, tuple(chain)), (_stable(what), tuple(shown)))

    def audit(self, event: str, args: tuple[object, ...]) -> None:
        """Audit hook: a file under the destination opened for writing, renamed, linked or
        copied into place."""
        if not self.active or self.finished:
            return
        if event == "open":
            path, mode, flags = args
            writing = (
                any(c in mode for c in "wax+")
                if isinstance(mode, str)
                else bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC))
            )
            if not writing:
                rel = self._read_from(path)
                if rel is not None:
                    self._land(sys._getframe(1), f"read {rel}", "read")
                return
            rel = self._under_dest(path)
        elif event in ("os.rename", "os.link", "os.symlink", "shutil.copyfile"):
            rel = self._under_dest(args[1])
        else:
            return
        if rel is not None:
            self._land(sys._getframe(1), f"{event} {rel}")

    def _write(self, frame: object, fn: object) -> None:
        """A write builtin called: to a file object under the destination, or to a file
        descriptor from package code (whose file the profiler cannot see)."""
        name = getattr(fn, "__name__", "")
        owner = getattr(fn, "__self__", None)
        if name in ("write", "writelines") and hasattr(owner, "name"):
            rel = self._under_dest(owner.name)  # type: ignore[union-attr]
            if rel is not None:
                self._land(frame, f"write {rel}")
        elif (
            name in ("write", "writev", "pwrite", "pwritev")
            and getattr(owner, "__name__", "") in ("posix", "nt")
            and frame.f_globals.get("__name__", "").startswith(PACKAGE)  # type: ignore[attr-defined]
        ):
            self._land(frame, f"os.{name}")
        elif name in ("read", "readinto", "read1", "readinto1", "readline") and hasattr(
            owner, "name"
        ):
            rel = self._read_from(owner.name)  # type: ignore[union-attr]
            if rel is not None:
                self._land(frame, f"read {rel}", "read")
        elif (
            name in ("read", "pread", "readv", "preadv")
            and getattr(owner, "__name__", "") in ("posix", "nt")
            and frame.f_globals.get("__name__", "").startswith(PACKAGE)  # type: ignore[attr-defined]
        ):
            self._land(frame, f"os.{name}", "read")
        elif name in ("recv", "recv_into") and type(owner).__name__ in ("socket", "SSLSocket"):
            self._land(frame, f"socket.{name}", "read")

    def started(self, thread: threading.Thread) -> None:
        """Remember the frames of the code starting ``thread`` (its chain's head)."""
        if self.active and not self.finished:
            frames = self._stack(sys._getframe(2))
            if frames:
                self.origins[thread] = frames

    def profile(self, frame: object, event: str, arg: object) -> None:
        if self.finished:
            return
        if event == "c_call":
            if self.active:
                self._write(frame, arg)
            return
        if event not in ("call", "return"):
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
        short = [m[len(PACKAGE) + 1 :] or m for m in modules]
        return {
            "modules": len(modules),
            "returns": len(returns),
            "transitions": len(edges),
            "path": short,
            "return_edges": sorted(_show(e) for e in returns),
            "call_edges": sorted(_show(e) for e in edges - returns),
            "spine": self.spine(),
            "spine_io": self.spine(("read", "write")),
        }

    def spine(self, sides: tuple[str, ...] = ("write",)) -> dict[str, object]:
        """The spine: the modules on the chains recorded on ``sides`` ("write": bytes landing
        under the destination; "read": the input read), and the returns on them."""
        modules: list[str] = []
        calls: set[tuple[str, str]] = set()
        bounces: set[tuple[str, str]] = set()
        for side, chain in sorted(self.chains):
            if side not in sides:
                continue
            for i, module in enumerate(chain):
                if module not in modules:
                    modules.append(module)
                if i:
                    calls.add((chain[i - 1], module))
                    if module in chain[: i - 1]:  # A -> B -> A: back up into a module left
                        bounces.add((chain[i - 1], module))
        on = set(modules)
        flow: set[tuple[str, str, str]] = set()
        for ident in sorted(self.seqs, key=lambda t: t != threading.main_thread().ident):
            seen: set[str] = set()
            prev = None
            for module, kind in self.seqs[ident]:  # the full sequence, off-spine modules left out
                if module not in on or module == prev:
                    continue
                if prev is not None and module in seen:
                    flow.add((prev, module, kind))
                seen.add(module)
                prev = module
        cut = len(PACKAGE) + 1
        return {
            "modules": len(modules),
            "returns": len(calls) + len(bounces),
            "bounces": len(bounces),
            "flow_returns": len(flow),
            "path": [m[cut:] for m in modules],
            "chains": [
                {"landed": what, "chain": list(shown)}
                for (side, _), (what, shown) in sorted(self.chains.items(), key=lambda c: c[1][1])
                if side in sides
            ],
            "call_edges": sorted(f"{a[cut:]} -> {b[cut:]}" for a, b in calls),
            "bounce_edges": sorted(f"{a[cut:]} -> {b[cut:]}" for a, b in bounces),
            "flow_return_edges": sorted(_show(e) for e in flow),
        }


#: the parts of a file name that change from run to run: a process id and random hex, a
#: temporary file's random suffix, the URL's hash (the server's port is random)
_VOLATILE = re.compile(r"(?<=-)\d+-[0-9a-f]{6,}|[0-9a-f]{8,}|(?<=\.)[a-z0-9_]{8}(?=\.tmp$)")


def _stable(what: str) -> str:
    return _VOLATILE.sub("*", what)


def _show(edge: tuple[str, str, str]) -> str:
    a, b, kind = edge
    return f"{a[len(PACKAGE) + 1 :] or a} -> {b[len(PACKAGE) + 1 :] or b} ({kind})"


def _runner(via: str) -> Callable[[list[str]], object]:
    """What runs ``argv``: ``entry``, the console script's own dispatch (``cli.entry.main``:
    the typer-free fast path for the invocations it serves, the typer app for the rest), its
    ``SystemExit`` taken as the exit code; ``app``, the typer app's in-process ``run(argv)``
    (also what a checkout without ``cli/entry.py`` gets)."""
    import importlib

    if via == "entry":
        try:
            entry = importlib.import_module(f"{PACKAGE}.cli.entry")
        except ImportError:
            entry = None
        if entry is not None:

            def run(argv: list[str]) -> object:
                try:
                    entry.main(argv)
                except SystemExit as exc:
                    return exc.code
                return 0

            return run
    cli = importlib.import_module(f"{PACKAGE}.cli")
    if not hasattr(cli, "run"):
        cli = importlib.import_module(f"{PACKAGE}.cli.app")
    return cli.run


def child(command: str, dest: str, source: str, argv: list[str], via: str = "entry") -> int:
    """Run ``argv`` through the CLI (:func:`_runner`) under the tracer, the spine's writes
    taken under ``dest``; print the summary as JSON."""

    run = _runner(via)
    tracer = Tracer(command, dest, source)
    sys.addaudithook(tracer.audit)
    start = threading.Thread.start

    def traced_start(thread: threading.Thread) -> None:
        tracer.started(thread)
        start(thread)

    threading.Thread.start = traced_start  # type: ignore[method-assign]
    threading.setprofile(tracer.profile)
    sys.setprofile(tracer.profile)
    try:
        code = run(argv)
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
    src: Path | None,
    pairs: int,
    commands: tuple[str, ...],
    workdir: Path | None = None,
    via: str = "entry",
) -> dict[str, object]:
    """Measure ``commands`` on the code at ``src`` (None: the installed package), in a
    temporary folder under ``workdir`` (None: the system's), removed afterwards; ``via``:
    through the console script's dispatch (``entry``) or the typer app (``app``)."""
    env = _env(src)
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="lsdb-callpath-", dir=workdir) as tmp:
        work = Path(tmp)
        synth = work / "synth"
        subprocess.run(
            [
                sys.executable,
                "-m",
                PACKAGE,
                "synth",
                str(synth),
                "--pairs",
                str(pairs),
                "--seed",
                "0",
                "-q",
            ],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        archive = next(p for p in sorted(synth.iterdir()) if p.name.endswith(".zip"))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _quiet_handler(synth))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/{archive.name}"
            data = work / "data"
            argvs = {
                "download": ["download", "--url", url, "--no-drive", "--data-dir", str(data), "-q"],
                "export": ["export", "nnunet", str(work / "out"), "--data-dir", str(data), "-q"],
            }
            dests = {"download": (data, ""), "export": (work / "out", data)}
            for command in COMMANDS:  # export needs the tree download made
                argv = argvs[command]
                if command not in commands:
                    if command == "download":
                        subprocess.run(
                            [sys.executable, "-m", PACKAGE, *argv],
                            check=True,
                            env=env,
                            stdout=subprocess.DEVNULL,
                        )
                    continue
                proc = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        command,
                        *map(str, dests[command]),
                        via,
                        "--",
                        *argv,
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
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
    if argv[:1] == ["--child"]:  # python callpath.py --child COMMAND DEST SOURCE VIA -- ARGV...
        return child(argv[1], argv[2], argv[3], argv[6:], via=argv[4])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("commands", nargs="*", help="download, export (default: both)")
    ap.add_argument(
        "--src",
        type=Path,
        default=None,
        help="a checkout whose lungsegdb_cli to measure (default: the installed one)",
    )
    ap.add_argument("--pairs", type=int, default=2, help="synth pairs per group (default 2)")
    ap.add_argument(
        "--via",
        choices=("entry", "app"),
        default="entry",
        help="entry: as the console script runs it (default); app: the typer app's run(argv)",
    )
    ap.add_argument("--json", action="store_true", help="one JSON document on stdout")
    ap.add_argument("--edges", action="store_true", help="also list the returns, one a line")
    ap.add_argument(
        "--spine",
        action="store_true",
        help="also print the spine: the chains on which bytes land, its returns",
    )
    args = ap.parse_args(argv)
    if set(args.commands) - set(COMMANDS):
        ap.error(f"commands are {', '.join(COMMANDS)}")
    results = measure(args.src, args.pairs, tuple(args.commands or COMMANDS), via=args.via)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for command, r in results.items():
        print(
            f"{command}: exit {r['exit']} | modules crossed: {r['modules']} | returns to a "
            f"module already left: {r['returns']} | transitions: {r['transitions']}"
        )
        print("  " + " -> ".join(r["path"]))
        if args.edges:
            for edge in r["return_edges"]:
                print("    return: " + edge)
        if args.spine:
            s = r["spine"]
            print(
                f"  spine: modules crossed: {s['modules']} | returns: {s['returns']} "
                f"(bounces {s['bounces']}) | returns among its modules: {s['flow_returns']}"
            )
            for c in s["chains"]:
                print(f"    {c['landed']}: " + " > ".join(c["chain"]))
            for edge in s["bounce_edges"]:
                print("    bounce: " + edge)
    return 0


if __name__ == "__main__":
    sys.exit(main())
