# -*- test-case-name: tests.processes.test_install -*-
"""
What users install: a plain install (the README's first command, without
the test extra) has every module the server and its dropins import, and a
wheel ships the server's files and dropins but not the test reporter.

The plain install is the virtualenv named by C{RESONATE_TEST_PLAIN_VENV}
(see L{tests.support.processtools}, which runs every server and command-line
process test from it); C{.ci/run} makes it.
"""

import os
import shutil
import subprocess
import sys
import zipfile

from twisted.trial import unittest

from tests.support.processtools import (
    PLAIN_VENV_VARIABLE,
    ProcessExit,
    installedExecutable,
    plainVenv,
    resonateCommand,
    runProcess,
    twistCommand,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: Imports, in the interpreter it runs in, every module of resonate/ and
#: twisted/plugins/ (of the checkout given as its argument) and every module
#: those name in an import statement, also inside functions (the task
#: dispatcher imports treq only when it pushes).  Prints one FAIL line each.
_IMPORT_EVERYTHING = r'''
import ast, importlib, os, sys
root = sys.argv[1]
names = set()
for top in ("resonate", os.path.join("twisted", "plugins")):
    for base, dirs, files in os.walk(os.path.join(root, top)):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(base, name)
            module = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
            if module.endswith(".__init__"):
                module = module[:-len(".__init__")]
            if not module.endswith(".__main__"):
                names.add(module)
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read(), path)
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names.add(node.module)
for name in sorted(names):
    try:
        importlib.import_module(name)
    except Exception as e:
        print(f"FAIL {name}: {e!r}")
print(f"imported {len(names)} modules")
'''

#: Modules only the test extra installs.
_TEST_EXTRA = [
    "hypothesis", "schemathesis", "grpc_tools", "openapi_spec_validator", "selenium",
]


def _skipUnlessPlain():
    if plainVenv() is None:
        raise unittest.SkipTest(
            f"set {PLAIN_VENV_VARIABLE} to a plain install (.ci/run does) to run them"
        )


class PlainInstallTests(unittest.TestCase):
    """
    The plain install the process tests run from has no test extra, and
    every import of the server resolves in it.
    """

    timeout = 120

    def setUp(self):
        _skipUnlessPlain()
        self.python = installedExecutable("python")

    async def test_testExtraAbsent(self):
        """
        None of the test extra's modules is importable: the install is what
        C{pip install -e .} gives, so a dependency only the test extra
        brings fails the process tests.
        """
        present = []
        for module in _TEST_EXTRA:
            process = await runProcess(self, [self.python, "-c", f"import {module}"])
            if process.exit == ProcessExit(0, None):
                present.append(module)
        self.assertEqual(present, [])

    async def test_everyImportResolves(self):
        """
        Every module of the server and its dropins imports, and so does
        every module they import anywhere: each is among the install's
        requirements.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        process = await runProcess(
            self, [self.python, "-c", _IMPORT_EVERYTHING, ROOT], path=directory
        )
        self.assertEqual(process.exit, ProcessExit(0, None), process.output)
        failures = [line for line in process.lines() if line.startswith("FAIL")]
        self.assertEqual(failures, [])
        self.assertIn("imported", process.stdout)

    def test_processesRunFromIt(self):
        """
        The server and the command line that process tests start are the
        plain install's.
        """
        venv = plainVenv()
        for executable in (twistCommand()[0], resonateCommand()[0]):
            self.assertTrue(executable.startswith(os.path.join(venv, "bin", "")),
                            executable)


class WheelTests(unittest.TestCase):
    """
    A wheel (what C{pip install .} installs) holds every file of
    C{resonate/}, C{resonate.testing} among them for third-party stores,
    and of C{twisted/plugins/} only the server's dropins: the C{counts}
    trial reporter stays out of production.
    """

    timeout = 300

    async def test_contents(self):
        if not os.path.isdir(os.path.join(ROOT, ".git")) or shutil.which("git") is None:
            raise unittest.SkipTest("not a git checkout: its files are unknown")
        tracked = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, check=True, capture_output=True,
        ).stdout.decode("utf-8").split("\0")
        # A build from a copy of the checkout's files, as from a clean clone:
        # an in-tree build would reuse a stale build/ directory.
        work = os.path.abspath(self.mktemp())
        source = os.path.join(work, "source")
        for name in tracked:
            path = os.path.join(ROOT, name)
            if name and os.path.isfile(path):
                os.makedirs(os.path.dirname(os.path.join(source, name)), exist_ok=True)
                shutil.copy2(path, os.path.join(source, name))
        output = os.path.join(work, "wheel")
        process = await runProcess(
            self,
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
             "--wheel-dir", output, source],
            timeout=240.0,
        )
        self.assertEqual(process.exit, ProcessExit(0, None), process.output)
        [wheel] = os.listdir(output)
        with zipfile.ZipFile(os.path.join(output, wheel)) as archive:
            shipped = set(archive.namelist())

        self.assertEqual(
            sorted(name for name in shipped if name.startswith("twisted/")),
            ["twisted/plugins/resonate_stores.py", "twisted/plugins/resonate_tap.py"],
        )
        sources = sorted(
            name for name in tracked
            if name.startswith("resonate/") and "__pycache__" not in name
            and os.path.isfile(os.path.join(ROOT, name))
        )
        self.assertEqual([name for name in sources if name not in shipped], [])
        self.assertIn("resonate/testing/store.py", shipped)
