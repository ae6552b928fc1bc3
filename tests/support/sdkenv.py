# -*- test-case-name: tests.processes.test_sdk2026 -*-
"""
The real SDKs of the 2026 protocol, installed once and cached for the
process tests (L{tests.processes.test_sdk2026}):

  - PyPI C{resonate-sdk==0.8.1}, in a virtualenv of a Python 3.12 or later
    (the SDK's floor), C{.sdk-cache/python3.X-resonate-sdk-0.8.1};
  - npm C{@resonatehq/sdk} 0.11.5, installed with C{npm ci} from
    C{tests/support/sdk2026/package-lock.json} into
    C{.sdk-cache/npm-<hash of the lock>}, next to a copy of the scripts
    (node resolves packages from the script's own folder).

The cache lives in the project root (C{$RESONATE_SDK_CACHE} moves it); a
half-made environment is never used: each is built beside its place and
renamed into it, under a lock, so that parallel test runs share one.

A missing toolchain (no Python 3.12+, no node 18+ with npm) makes the tests
skip with a one-line reason, except when C{$CI} or
C{$RESONATE_REQUIRE_SDKS} is set: then it fails them.  An install that
fails (no package index, say) always fails them.

    python3 -m tests.support.sdkenv [python] [npm]

builds them ahead of the tests (C{.ci/run} does) and prints where they are.
"""

import contextlib
import fcntl
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
from unittest import SkipTest

PROJECT_ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)

#: The scripts and the npm project.
SDK_DIR = os.path.join(PROJECT_ROOT, "tests", "support", "sdk2026")

#: The Python SDK release under test.
PYTHON_SDK_VERSION = "0.8.1"

#: The npm SDK release under test (pinned by the lock file too).
NPM_SDK_VERSION = "0.11.5"

#: The oldest Python the Python SDK installs on.
MIN_PYTHON = (3, 12)

#: The oldest node whose fetch and ES modules the npm SDK needs (it
#: declares 22; the script adds the one thing 20 lacks).
MIN_NODE = (18, 0)

#: The npm project's files copied into its environment.
NPM_FILES = ("package.json", "package-lock.json", "workflow.mjs")

#: Variables naming an interpreter or a node to use instead of searching.
PYTHON_VARIABLE = "RESONATE_TEST_SDK2026_PYTHON"
NODE_VARIABLE = "RESONATE_TEST_NODE"

#: Install steps' time limit, in seconds.
INSTALL_TIMEOUT = 600

#: What the SDKs' processes must not inherit: the server's own package is
#: also called C{resonate}.
CLEAN_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "NODE_OPTIONS", "NODE_PATH")


class SDKUnavailable(Exception):
    """
    An SDK environment cannot be had; the message says why, in one line
    first.
    """


def required():
    """
    Whether a missing toolchain must fail the tests rather than skip them:
    in CI (C{$CI}) or when C{$RESONATE_REQUIRE_SDKS} is set.
    """
    return any(os.environ.get(name) for name in ("CI", "RESONATE_REQUIRE_SDKS"))


def cacheDir():
    """
    The folder the environments live in, created if missing.
    """
    directory = os.environ.get("RESONATE_SDK_CACHE") or os.path.join(
        PROJECT_ROOT, ".sdk-cache"
    )
    os.makedirs(directory, exist_ok=True)
    return directory


def childEnv(extra=None):
    """
    C{os.environ} without the variables in L{CLEAN_ENV}, plus C{extra}.
    """
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    env.update(extra or {})
    return env


def _missing(reason):
    """
    A toolchain is missing: skip, or fail where the SDKs are required.
    """
    if required():
        raise SDKUnavailable(
            f"{reason} ($CI or $RESONATE_REQUIRE_SDKS is set, so this fails "
            f"instead of skipping)"
        )
    raise SkipTest(reason)


def _run(args, what, timeout=INSTALL_TIMEOUT, cwd=None, env=None):
    """
    Run one install step; raise L{SDKUnavailable} naming it if it fails.
    """
    try:
        done = subprocess.run(
            args, cwd=cwd, env=env or childEnv(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SDKUnavailable(f"cannot {what}: {' '.join(args)}: {e}") from e
    if done.returncode != 0:
        output = done.stdout.decode("utf-8", "replace").splitlines()[-30:]
        raise SDKUnavailable(
            f"cannot {what} (exit status {done.returncode}): {' '.join(args)}\n"
            + "\n".join(output)
        )
    return done.stdout.decode("utf-8", "replace")


def _version(args):
    """
    The first dotted version a command prints, as a tuple, or L{None}.
    """
    try:
        done = subprocess.run(
            args, env=childEnv(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(rb"(\d+)\.(\d+)", done.stdout)
    if done.returncode != 0 or match is None:
        return None
    return int(match.group(1)), int(match.group(2))


@contextlib.contextmanager
def _locked():
    """
    Hold the cache's lock: one build at a time across processes.
    """
    with open(os.path.join(cacheDir(), ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build(final, build):
    """
    Make the environment C{final} with C{build(directory)} in a folder
    beside it, then rename it into place.  Nothing happens if it exists.
    """
    if os.path.isdir(final):
        return
    with _locked():
        if os.path.isdir(final):
            return
        building = f"{final}.building-{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        try:
            build(building)
            os.rename(building, final)
        finally:
            shutil.rmtree(building, ignore_errors=True)


# Python


def _pyenvRoots():
    roots = []
    if os.environ.get("PYENV_ROOT"):
        roots.append(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            out = subprocess.run(
                [pyenv, "root"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                timeout=30, env=childEnv(),
            ).stdout.decode().strip()
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        if out:
            roots.append(out)
    roots.append(os.path.expanduser("~/.pyenv"))
    return roots


def pythonCandidates():
    """
    Interpreters that may be a Python 3.12+, best first: C{$}L{PYTHON_VARIABLE},
    pyenv's installed versions (newest first), then C{python3.N} and
    C{python3} on C{PATH}.
    """
    if os.environ.get(PYTHON_VARIABLE):
        return [os.environ[PYTHON_VARIABLE]]
    candidates = []
    for root in _pyenvRoots():
        found = glob.glob(os.path.join(root, "versions", "3.*", "bin", "python3.*"))
        found = [p for p in found if re.search(r"python3\.\d+$", p)]
        candidates += sorted(
            found,
            key=lambda p: tuple(int(x) for x in re.findall(r"\d+", os.path.basename(p))),
            reverse=True,
        )
    for minor in range(20, MIN_PYTHON[1] - 1, -1):
        path = shutil.which(f"python3.{minor}")
        if path:
            candidates.append(path)
    if shutil.which("python3"):
        candidates.append(shutil.which("python3"))
    seen, unique = set(), []
    for path in candidates:
        if path not in seen:
            seen.add(path)
            unique.append(path)
    return unique


def findPython():
    """
    A Python 3.12 or later.

    @return: C{(path, (major, minor))}.
    @raise SkipTest: none is found (L{SDKUnavailable} where required).
    """
    tried = []
    for path in pythonCandidates():
        version = _version([path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        tried.append(f"{path} ({'.'.join(map(str, version)) if version else '?'})")
        if version is not None and version >= MIN_PYTHON:
            return path, version
    _missing(
        f"no Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+ for resonate-sdk=="
        f"{PYTHON_SDK_VERSION} (tried: {', '.join(tried) or 'none'}; set "
        f"${PYTHON_VARIABLE})"
    )


def pythonSDK():
    """
    The interpreter of a virtualenv with C{resonate-sdk==0.8.1}, made if
    missing.

    @return: its path.
    @raise SkipTest: no Python 3.12+ (L{SDKUnavailable} where required).
    @raise SDKUnavailable: the install failed.
    """
    base, (major, minor) = findPython()
    final = os.path.join(
        cacheDir(), f"python{major}.{minor}-resonate-sdk-{PYTHON_SDK_VERSION}"
    )

    def build(directory):
        _run([base, "-m", "venv", directory], "create a virtualenv")
        _run(
            [os.path.join(directory, "bin", "python"), "-m", "pip", "install",
             "--disable-pip-version-check", "--no-input", "-q",
             f"resonate-sdk=={PYTHON_SDK_VERSION}"],
            f"install resonate-sdk=={PYTHON_SDK_VERSION}",
        )

    _build(final, build)
    python = os.path.join(final, "bin", "python")
    found = _run(
        [python, "-c",
         "from importlib.metadata import version; print(version('resonate-sdk'))"],
        "read the installed resonate-sdk version",
    ).strip()
    if found != PYTHON_SDK_VERSION:
        raise SDKUnavailable(
            f"{final} has resonate-sdk {found}, not {PYTHON_SDK_VERSION}; delete it"
        )
    return python


# npm


def findNode():
    """
    node 18+ and the npm beside it.

    @return: C{(node, npm)} paths.
    @raise SkipTest: none is found (L{SDKUnavailable} where required).
    """
    node = os.environ.get(NODE_VARIABLE) or shutil.which("node")
    if not node:
        _missing(f"no node for @resonatehq/sdk {NPM_SDK_VERSION} (set ${NODE_VARIABLE})")
    if not os.access(node, os.X_OK):
        _missing(f"no node at {node} for @resonatehq/sdk {NPM_SDK_VERSION}")
    version = _version([node, "--version"])
    if version is None or version < MIN_NODE:
        _missing(
            f"{node} is node {'.'.join(map(str, version)) if version else '?'}; "
            f"@resonatehq/sdk {NPM_SDK_VERSION} needs {MIN_NODE[0]}+"
        )
    npm = os.path.join(os.path.dirname(node), "npm")
    if not os.access(npm, os.X_OK):
        npm = shutil.which("npm")
    if not npm:
        _missing(f"no npm beside {node} to install @resonatehq/sdk {NPM_SDK_VERSION}")
    return node, npm


def _digest(*names):
    digest = hashlib.sha256()
    for name in names:
        with open(os.path.join(SDK_DIR, name), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


def npmSDK():
    """
    A folder with C{@resonatehq/sdk} 0.11.5 in C{node_modules} (C{npm ci}
    of the lock file) and the current C{workflow.mjs}, made if missing.

    @return: C{(node, directory)}.
    @raise SkipTest: no node (L{SDKUnavailable} where required).
    @raise SDKUnavailable: the install failed.
    """
    node, npm = findNode()
    final = os.path.join(
        cacheDir(), f"npm-{_digest('package.json', 'package-lock.json')}"
    )
    env = childEnv({"PATH": os.path.dirname(node) + os.pathsep + os.environ.get("PATH", "")})

    def build(directory):
        os.makedirs(directory)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(os.path.join(SDK_DIR, name), directory)
        _run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            f"install @resonatehq/sdk {NPM_SDK_VERSION} with npm ci",
            cwd=directory, env=env,
        )

    _build(final, build)
    manifest = os.path.join(final, "node_modules", "@resonatehq", "sdk", "package.json")
    try:
        with open(manifest) as f:
            found = re.search(r'"version"\s*:\s*"([^"]+)"', f.read()).group(1)
    except (OSError, AttributeError):
        found = None
    if found != NPM_SDK_VERSION:
        raise SDKUnavailable(
            f"{final} has @resonatehq/sdk {found}, not {NPM_SDK_VERSION}; delete it"
        )
    # The script changes more often than the lock: copy it every time
    # (atomically, for runs in parallel).
    script = os.path.join(final, "workflow.mjs")
    copy = f"{script}.{os.getpid()}"
    shutil.copy(os.path.join(SDK_DIR, "workflow.mjs"), copy)
    os.replace(copy, script)
    return node, final


def main(argv):
    kinds = argv or ["python", "npm"]
    status = 0
    for kind in kinds:
        try:
            if kind == "python":
                print(f"resonate-sdk {PYTHON_SDK_VERSION}: {pythonSDK()}")
            elif kind == "npm":
                print(f"@resonatehq/sdk {NPM_SDK_VERSION}: {npmSDK()[1]}")
            else:
                print(f"unknown SDK {kind!r} (python, npm)")
                status = 2
        except SkipTest as e:
            print(f"{kind}: skipped: {e}")
        except SDKUnavailable as e:
            print(f"{kind}: {e}")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
