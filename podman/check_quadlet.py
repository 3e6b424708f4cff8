#!/usr/bin/env python3
"""Checks Coffer's Quadlet units (podman/*.kube, podman/units/*) without Podman.

The Podman on the build machine predates Quadlet, so the generator cannot be run here.
This script does what its first pass does: every key of a Quadlet section ([Container],
[Pod], [Volume], [Kube], [Quadlet]) must be one podman-systemd.unit(5) documents (the
generator refuses a unit with an unknown key, and systemd then reports only "unit not
found"), and every file a unit names must exist: `Yaml=` of a `.kube`, `Pod=`, `*.volume`
sources of `Volume=`/`Mount=`, and the generated services named in `[Unit]` dependencies.
The systemd sections ([Unit], [Service], [Install]) are checked against the short list of
keys these units use, so a typo there fails too.

    python3 podman/check_quadlet.py              # every unit under podman/
    python3 podman/check_quadlet.py DIR_OR_FILE  # others
    python3 podman/check_quadlet.py --self-test  # the checker rejects what it should

Standard library only (Python 3.11). Exits 1 on any unknown key or broken reference.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# --- What podman-systemd.unit(5) documents ---------------------------------------------
# Podman 5.6: transcribed from the option tables and key headings of
# containers/podman docs/source/markdown/podman-systemd.unit.5.md at commit
# 00b40dba52da73ab66e62edd8b5f57d77692caaf. That page has 5.6's new [Pod] keys Label= and
# ExitPolicy= (RELEASE_NOTES.md, 5.6.0) and not 5.7's HttpProxy= ([Container]) or
# StopTimeout= ([Pod]) nor the .artifact units of 5.8, so it is the 5.6 page. Checked
# against pkg/systemd/quadlet/quadlet.go at the same commit: the generator also accepts
# ServiceName in [Container]/[Kube]/[Volume] (added in 5.3), LogOpt in [Kube], and the
# deprecated RemapUid/RemapGid/RemapUidSize/RemapUsers/VolatileTmp, which the page does
# not document and which are therefore refused here. The per-container units need Podman
# >= 5.0, the first whose page lists `.pod` units (docs.podman.io/en/v5.0.1; v4.9.3 has
# none); `.kube` units are in 4.6's page (4.4's lists only .container and .volume).
# A newer Podman accepts all of these; an older one refuses keys it does not know yet.
QUADLET_KEYS: dict[str, frozenset[str]] = {
    "Container": frozenset("""
        AddCapability AddDevice AddHost Annotation AutoUpdate CgroupsMode ContainerName
        ContainersConfModule DNS DNSOption DNSSearch DropCapability Entrypoint Environment
        EnvironmentFile EnvironmentHost Exec ExposeHostPort GIDMap GlobalArgs Group GroupAdd
        HealthCmd HealthInterval HealthLogDestination HealthMaxLogCount HealthMaxLogSize
        HealthOnFailure HealthRetries HealthStartPeriod HealthStartupCmd
        HealthStartupInterval HealthStartupRetries HealthStartupSuccess HealthStartupTimeout
        HealthTimeout HostName Image IP IP6 Label LogDriver LogOpt Mask Memory Mount Network
        NetworkAlias NoNewPrivileges Notify PidsLimit Pod PodmanArgs PublishPort Pull
        ReadOnly ReadOnlyTmpfs ReloadCmd ReloadSignal Retry RetryDelay Rootfs RunInit
        SeccompProfile Secret SecurityLabelDisable SecurityLabelFileType SecurityLabelLevel
        SecurityLabelNested SecurityLabelType ShmSize StartWithPod StopSignal StopTimeout
        SubGIDMap SubUIDMap Sysctl Timezone Tmpfs UIDMap Ulimit Unmask User UserNS Volume
        WorkingDir
    """.split()),
    "Pod": frozenset("""
        AddHost ContainersConfModule DNS DNSOption DNSSearch ExitPolicy GIDMap GlobalArgs
        HostName IP IP6 Label Network NetworkAlias PodmanArgs PodName PublishPort
        ServiceName ShmSize SubGIDMap SubUIDMap UIDMap UserNS Volume
    """.split()),
    "Kube": frozenset("""
        AutoUpdate ConfigMap ContainersConfModule ExitCodePropagation GlobalArgs
        KubeDownForce LogDriver Network PodmanArgs PublishPort SetWorkingDirectory UserNS
        Yaml
    """.split()),
    "Volume": frozenset("""
        ContainersConfModule Copy Device Driver GlobalArgs Group Image Label Options
        PodmanArgs Type User VolumeName
    """.split()),
    # "Implicit network dependencies": the one key of the [Quadlet] section.
    "Quadlet": frozenset({"DefaultDependencies"}),
}

# The Quadlet section each kind of file is built from.
SECTION_OF = {".container": "Container", ".pod": "Pod", ".kube": "Kube", ".volume": "Volume"}

# systemd sections: only the keys these units use (systemd.unit(5), systemd.service(5)).
# [Install] is the list the page gives: the generator applies only these four (and
# DefaultInstance for templates).
SYSTEMD_KEYS: dict[str, frozenset[str]] = {
    "Unit": frozenset({"Description", "Documentation", "Requires", "Wants", "After",
                       "Before", "BindsTo", "PartOf"}),
    "Service": frozenset({"Restart", "RestartSec", "TimeoutStartSec", "TimeoutStopSec"}),
    "Install": frozenset({"WantedBy", "RequiredBy", "UpheldBy", "Alias", "DefaultInstance"}),
}

DEPENDENCY_KEYS = ("Requires", "Wants", "After", "Before", "BindsTo", "PartOf")


@dataclass
class Entry:
    section: str
    key: str
    value: str
    line: int


@dataclass
class Report:
    """What was checked in one file and what is wrong with it."""

    path: Path
    checked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def parse(text: str) -> tuple[list[Entry], list[str]]:
    """systemd unit syntax: [Section] headers, Key=Value (repeatable), comments starting
    with # or ;, and a trailing backslash joining the next line (with a space, as systemd
    does; comment lines inside a continuation are skipped)."""
    entries: list[Entry] = []
    errors: list[str] = []
    section: str | None = None
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if pending and line[:1] in ("#", ";"):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                errors.append(f"line {start}: malformed section header {line!r}")
            section = line[1:-1].strip()
            continue
        key, eq, value = line.partition("=")
        if not eq:
            errors.append(f"line {start}: expected Key=Value, got {line!r}")
        elif section is None:
            errors.append(f"line {start}: {key.strip()}= outside any section")
        else:
            entries.append(Entry(section, key.strip(), value.strip(), start))
    if pending:
        errors.append("the last line ends with a backslash continuing nothing")
    return entries, errors


def generated_service(path: Path, entries: list[Entry]) -> str:
    """The .service name the generator makes of a unit file (ServiceName= overrides)."""
    for e in entries:
        if e.key == "ServiceName" and e.section == SECTION_OF[path.suffix]:
            return e.value + ".service"
    suffix = {".container": "", ".kube": "", ".pod": "-pod", ".volume": "-volume"}[path.suffix]
    return f"{path.stem}{suffix}.service"


def referenced_unit(value: str, suffix: str) -> str | None:
    """The `name.volume` a Volume= (`SOURCE:DEST[:OPTS]`) or Mount= (`source=...`) value
    names, if any."""
    source = value.split(":", 1)[0]
    if source.endswith(suffix) and "/" not in source:
        return source
    for part in value.split(","):
        name, _, v = part.partition("=")
        if name in ("source", "src") and v.endswith(suffix):
            return v
    return None


def check_file(path: Path, services: dict[str, Path]) -> Report:
    report = Report(path)
    entries, report.errors = parse(path.read_text(encoding="utf-8"))
    section = SECTION_OF[path.suffix]
    own = [e for e in entries if e.section == section]
    if not own:
        report.errors.append(f"no [{section}] section")
    check_keys(report, entries, section)
    if path.suffix == ".container":
        check_image(report, own)
    if path.suffix == ".kube":
        check_yaml(report, own, path.parent)
    check_references(report, entries, own, path.parent, services)
    return report


def check_keys(report: Report, entries: list[Entry], quadlet_section: str) -> None:
    """Every key is one its section documents; every section belongs in this file."""
    sections = sorted({e.section for e in entries})
    count = f"{len(entries)} key" + ("" if len(entries) == 1 else "s")
    report.checked.append(f"{count} in " + ", ".join(f"[{s}]" for s in sections))
    for e in entries:
        if e.section in (quadlet_section, "Quadlet"):
            allowed = QUADLET_KEYS[e.section]
        elif e.section in SYSTEMD_KEYS:
            allowed = SYSTEMD_KEYS[e.section]
        elif e.section in QUADLET_KEYS:
            report.errors.append(f"line {e.line}: [{e.section}] does not belong in this "
                                 f"file (it takes [{quadlet_section}])")
            continue
        else:
            report.errors.append(f"line {e.line}: unknown section [{e.section}]")
            continue
        if e.key not in allowed:
            report.errors.append(f"line {e.line}: unknown key {e.key}= in [{e.section}]")


def check_image(report: Report, own: list[Entry]) -> None:
    """A .container has an image, and registry auto-updates know which registry to ask."""
    images = [e for e in own if e.key == "Image"]
    if not images and not any(e.key == "Rootfs" for e in own):
        report.errors.append("no Image= (a .container needs one)")
    for image in images:
        report.checked.append(f"Image={image.value}")
    for auto in (e for e in own if e.key == "AutoUpdate"):
        if auto.value not in ("registry", "local"):
            report.errors.append(f"line {auto.line}: AutoUpdate= takes registry or local, "
                                 f"not {auto.value!r}")
        elif auto.value == "registry" and images and not _fully_qualified(images[-1].value):
            report.errors.append(f"line {auto.line}: AutoUpdate=registry needs a fully "
                                 f"qualified Image=, not {images[-1].value!r}")


def check_yaml(report: Report, own: list[Entry], here: Path) -> None:
    """A .kube names a YAML file that exists (relative paths are from the unit)."""
    yamls = [e for e in own if e.key == "Yaml"]
    if not yamls:
        report.errors.append("no Yaml= (a .kube needs one)")
    for y in yamls:
        target = here / y.value  # an absolute value replaces `here`
        if target.is_file():
            report.checked.append(f"Yaml={y.value} exists")
        else:
            report.errors.append(f"line {y.line}: Yaml={y.value}: no such file ({target})")


def check_references(report: Report, entries: list[Entry], own: list[Entry], here: Path,
                     services: dict[str, Path]) -> None:
    """Pod=, *.volume sources and [Unit] dependencies name units of the same folder."""
    for pod in (e for e in own if e.key == "Pod"):
        if not pod.value.endswith(".pod"):
            report.errors.append(f"line {pod.line}: Pod= must name a .pod unit, "
                                 f"not {pod.value!r}")
        elif (here / pod.value).is_file():
            report.checked.append(f"Pod={pod.value} exists")
        else:
            report.errors.append(f"line {pod.line}: Pod={pod.value}: no such unit in {here}")

    for e in (e for e in own if e.key in ("Volume", "Mount")):
        name = referenced_unit(e.value, ".volume")
        if name is None:
            continue
        if (here / name).is_file():
            report.checked.append(f"{e.key} source {name} exists")
        else:
            report.errors.append(f"line {e.line}: {e.key}= names {name}: no such unit in {here}")

    for e in entries:
        if e.section != "Unit" or e.key not in DEPENDENCY_KEYS:
            continue
        for dep in e.value.split():
            if dep.endswith((".container", ".pod", ".volume", ".kube")):
                found = (here / dep).is_file()
            elif dep.endswith(".service"):
                found = dep in services
            else:
                continue  # targets and the like belong to systemd
            if found:
                report.checked.append(f"{e.key}={dep} resolves")
            else:
                report.errors.append(f"line {e.line}: {e.key}={dep}: no unit in {here} "
                                     "generates it")


def _shown(path: Path) -> Path:
    """The path relative to the working directory when it is under it."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def _fully_qualified(image: str) -> bool:
    """registry/name[:tag]: auto-update must know which registry to ask."""
    first, slash, _ = image.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")


def unit_files(targets: list[Path]) -> list[Path]:
    found: list[Path] = []
    for target in targets:
        if target.is_dir():
            found += sorted(p for p in target.rglob("*") if p.suffix in SECTION_OF)
        else:
            found.append(target)
    return found


def check(targets: list[Path], out=sys.stdout) -> bool:
    files = unit_files(targets)
    if not files:
        print("no Quadlet units found", file=out)
        return False
    # Dependencies name generated services; resolve them among units of the same folder.
    services: dict[Path, dict[str, Path]] = {}
    for f in files:
        entries, _ = parse(f.read_text(encoding="utf-8"))
        services.setdefault(f.parent, {})[generated_service(f, entries)] = f
    ok = True
    for f in files:
        report = check_file(f, services[f.parent])
        status = "FAIL" if report.errors else "ok"
        print(f"{status:4} {_shown(f)}", file=out)
        for line in report.checked:
            print(f"       checked: {line}", file=out)
        for line in report.errors:
            print(f"       error:   {line}", file=out)
        ok = ok and not report.errors
    return ok


# --- Self-test ---------------------------------------------------------------------------

GOOD_CONTAINER = """\
# A comment; and ; another
[Unit]
Description=test
Requires=t-db.service
After=t-db.service

[Container]
Image=registry.example.org/t/t:latest
Pod=t.pod
AutoUpdate=registry
Volume=t-data.volume:/data:Z
Environment=A=1 \\
  B=2
ReadOnly=true

[Service]
Restart=always
"""


def self_test() -> bool:
    """Feeds the checker units with known faults and asserts each is refused, and a
    correct set is accepted, so a checker that passes everything cannot go unnoticed."""
    cases = {
        "misspelled key": ({"t.container": GOOD_CONTAINER.replace("ReadOnly=", "ReadOnlyy=")},
                           "unknown key ReadOnlyy="),
        "missing Image=": ({"t.container": GOOD_CONTAINER.replace(
            "Image=registry.example.org/t/t:latest\n", "")}, "no Image="),
        "Pod= to no file": ({"t.container": GOOD_CONTAINER.replace("Pod=t.pod", "Pod=x.pod")},
                            "Pod=x.pod: no such unit"),
        "Volume= to no file": ({"t.container": GOOD_CONTAINER.replace("t-data.volume",
                                                                     "t-dta.volume")},
                               "names t-dta.volume: no such unit"),
        "dependency on no unit": ({"t.container": GOOD_CONTAINER.replace(
            "After=t-db.service", "After=t-dbb.service")}, "After=t-dbb.service: no unit"),
        "Yaml= to no file": ({"k.kube": "[Kube]\nYaml=missing.yaml\n"},
                             "Yaml=missing.yaml: no such file"),
        "key of another section": ({"t-data.volume": "[Volume]\nImage=x\nReadOnly=true\n"},
                                   "unknown key ReadOnly= in [Volume]"),
        "short image with registry updates": ({"t.container": GOOD_CONTAINER.replace(
            "registry.example.org/t/t:latest", "coffer:latest")}, "fully qualified"),
        "systemd typo": ({"t.container": GOOD_CONTAINER.replace("Restart=", "Restrat=")},
                         "unknown key Restrat= in [Service]"),
        "continuation hides no key": ({"t.container": GOOD_CONTAINER.replace(
            "  B=2", "  B=2\nReadOnlyy=true")}, "unknown key ReadOnlyy="),
    }
    base = {
        "t.container": GOOD_CONTAINER,
        "t.pod": "[Pod]\nPodName=t\nPublishPort=8080:8080\n[Install]\nWantedBy=default.target\n",
        "t-data.volume": "[Volume]\nVolumeName=t-data\n",
        "t-db.container": "[Container]\nImage=localhost/db:1\nPod=t.pod\n",
    }
    passed = True
    with tempfile.TemporaryDirectory() as tmp:
        for name, (files, expected) in [("correct units", ({}, None)), *cases.items()]:
            folder = Path(tmp) / name.replace(" ", "-")
            folder.mkdir()
            for file, text in {**base, **files}.items():
                (folder / file).write_text(text, encoding="utf-8")
            out = _Capture()
            ok = check([folder], out)
            if expected is None:
                good = ok
            else:
                good = not ok and expected in out.text
            print(f"{'pass' if good else 'FAIL'} {name}"
                  + ("" if expected is None else f" (expects {expected!r})"))
            if not good:
                print(out.text)
            passed = passed and good
    # The parser itself: continuation joins with a space, comments inside it are skipped.
    entries, errors = parse("[S]\nK=a \\\n# note\n  b\n; c\n")
    parsed = not errors and [(e.key, e.value) for e in entries] == [("K", "a  b")]
    print(f"{'pass' if parsed else 'FAIL'} line continuation and comments")
    return passed and parsed


class _Capture:
    def __init__(self) -> None:
        self.text = ""

    def write(self, s: str) -> int:
        self.text += s
        return len(s)


def main(argv: list[str]) -> int:
    if argv == ["--self-test"]:
        return 0 if self_test() else 1
    targets = [Path(a) for a in argv] or [Path(__file__).resolve().parent]
    return 0 if check(targets) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
