#!/usr/bin/env python3
"""logcatch installed as users install it, end to end.

1. `cargo install --path . --root TMP`: the installed binary runs the demo from another
   directory (its example plugins are built in), and `--version` names the contract.
2. The Debian package (scripts/package), installed into this machine with `dpkg -i`: every
   file where it belongs, the `logcatch` user in the `adm` group, the data dir, the
   conffiles, the unit enabled, `logcatch validate` of the installed config; then the
   binary started as its unit starts it (the unit's user, groups, command line and
   environment, a read-only file system but ReadWritePaths, a private /tmp, no new
   privileges and no capabilities) delivers a line appended to a log only `adm` may read,
   tells systemd it is ready, reloads on the unit's ExecReload and stops cleanly;
   an upgrade, a removal and a purge keep the data dir (and, but for the purge, the config).
3. The Dockerfile copies only files the package installs, and installs its dependencies.

systemd itself does not run here (it is not PID 1 in this container), so the unit is not
started by it: its hardening is approximated with a mount namespace and setpriv, and its
readiness protocol is received by this script. This changes the machine (a package, a
user, /var/lib/logcatch), so scripts/test runs it only with CI=true or
LOGCATCH_TEST_PACKAGE=1, as root; it undoes what it did, and refuses to run where logcatch
is installed for real.
"""

import json
import os
import pwd
import grp
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = Path("/var/lib/logcatch")
CONFIG = Path("/etc/logcatch/logcatch.yaml")
MARKER = DATA_DIR / ".package-test"
TEST_LOG = Path("/var/log/logcatch-package-test.log")
SINK_FILE = DATA_DIR / "out/varlog.log"
API = "http://127.0.0.1:9420"


def step(what):
    print(f"package test: {what}", file=sys.stderr, flush=True)


def fail(why):
    raise SystemExit(f"package test: FAILED: {why}")


def check(cond, why):
    if not cond:
        fail(why)


def run(*cmd, ok=True, **kw):
    """Runs cmd; fails the test (with its output) unless it succeeds, if `ok`."""
    p = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kw)
    if ok and p.returncode != 0:
        fail(f"{' '.join(map(str, cmd))} exited {p.returncode}:\n{p.stdout}{p.stderr}")
    return p


def wait_for(cond, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    fail(f"timed out after {seconds}s waiting for {what}")


def installed_version():
    p = run("dpkg-query", "-W", "-f", "${Status} ${Version}", "logcatch", ok=False)
    return p.stdout.strip() if p.returncode == 0 else ""


# --- 1. cargo install ---

def cargo_install(tmp):
    step("cargo install --path . --root TMP")
    root = tmp / "root"
    # The release build scripts/package made serves it: same profile, features and lock.
    run("cargo", "install", "--locked", "--path", REPO, "--root", root,
        "--target-dir", REPO / "target")
    exe = root / "bin/logcatch"
    version = run(exe, "--version").stdout.splitlines()
    check(len(version) == 3 and version[0].startswith("logcatch ")
          and version[1] == "contract logcatch:plugin@0.1.0"
          and version[2].startswith("wasmtime 48."), f"--version printed {version}")

    step("the installed binary runs the demo from another directory")
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "LOGCATCH_PLUGIN_PATH"}
    env["LOGCATCH_DATA_DIR"] = str(tmp / "demo-data")
    demo = subprocess.Popen([exe], cwd=elsewhere, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    deadline = time.monotonic() + 60
    while len(lines) < 8 and time.monotonic() < deadline:
        line = demo.stdout.readline()
        if not line:
            break
        lines.append(line)
    demo.send_signal(signal.SIGINT)
    _, err = demo.communicate(timeout=60)
    check(demo.returncode == 0, f"the demo exited {demo.returncode}: {err}")
    check(len(lines) == 8, f"the demo printed {lines}; its log:\n{err}")
    check(all(" seq=" in l for l in lines), f"not demo lines: {lines}")
    check(not any(" DEBUG " in l for l in lines), f"drop_debug did not run: {lines}")
    check("stopped cleanly" in err, err)


# --- 2. the Debian package ---

def build_packages(tmp):
    step("scripts/package, twice (revisions 1 and 2, for the upgrade)")
    debs = {}
    for rev, extra in (("1", []), ("2", ["--deb-revision", "2", "--fast"])):
        out = tmp / f"rev{rev}"
        out.mkdir()
        run(REPO / "scripts/package", "--output", out, *extra, cwd=REPO)
        found = list(out.glob(f"logcatch_*-{rev}_*.deb"))
        check(len(found) == 1, f"revision {rev}: {found}")
        debs[rev] = found[0]
    return debs


def package_paths(deb):
    listing = run("dpkg-deb", "-c", deb).stdout.splitlines()
    # "-rwxr-xr-x root/root 123 2026-12-04 10:00 ./usr/bin/logcatch"
    return {"/" + l.split(" ./", 1)[1].rstrip("/") for l in listing if " ./" in l}


EXPECTED_FILES = [
    "/usr/bin/logcatch",
    "/etc/logcatch/logcatch.yaml",
    "/etc/logrotate.d/logcatch",
    "/usr/lib/logcatch/plugins/drop_debug.wasm",
    "/usr/lib/logcatch/plugins/redact.wasm",
    "/usr/lib/logcatch/plugins/parse_json.wasm",
    "/usr/lib/logcatch/plugins/parse_access.wasm",
    "/usr/lib/logcatch/plugins/http_bulk_sink.wasm",
    "/usr/share/man/man1/logcatch.1.gz",
    "/usr/share/man/man1/logcatch-run.1.gz",
    "/usr/share/bash-completion/completions/logcatch",
    "/usr/share/zsh/vendor-completions/_logcatch",
    "/usr/share/fish/vendor_completions.d/logcatch.fish",
    "/usr/share/doc/logcatch/README.md",
]


def unit_path(paths):
    units = [p for p in paths if p.endswith("/systemd/system/logcatch.service")]
    check(len(units) == 1, f"no single unit in the package: {units}")
    return units[0]


def check_contents(deb):
    step(f"contents of {deb.name}")
    paths = package_paths(deb)
    for f in EXPECTED_FILES:
        check(f in paths, f"{f} is not in the package")
    unit_path(paths)
    depends = run("dpkg-deb", "-f", deb, "Depends").stdout
    for dep in ("libc6", "libssl3", "adduser"):
        check(re.search(rf"\b{dep}\b", depends), f"Depends lacks {dep}: {depends}")
    conffiles = run("dpkg-deb", "-I", deb, "conffiles").stdout.split()
    check(sorted(conffiles) == ["/etc/logcatch/logcatch.yaml", "/etc/logrotate.d/logcatch"],
          f"conffiles: {conffiles}")
    return paths, depends


def check_dockerfile(paths, depends):
    step("the Dockerfile copies only what the package installs")
    text = (REPO / "Dockerfile").read_text()
    final = text.rsplit("\nFROM ", 1)[1]
    copies = re.findall(r"^COPY --from=build /package(/\S*?)/? (\S+)$", final, re.M)
    check(copies, "the final stage copies nothing from the package")
    check(not re.search(r"^(COPY|ADD) (?!--from=build /package/)", final, re.M),
          "the final stage copies something that is not from the package")
    for src, dst in copies:
        check(src in paths, f"the Dockerfile copies {src}, which the package does not install")
        check(src.rstrip("/") == dst.rstrip("/"), f"{src} is copied to {dst}, not where the package puts it")
    check("/usr/bin/logcatch" in dict(copies), "the image has no binary")
    check(re.search(r"^USER logcatch", final, re.M), "the image runs as root")
    # Its apt packages: the package's Depends but adduser (only the postinst uses it) and
    # what every Debian image has: what dpkg and apt need to run.
    base = dependency_closure(["dpkg", "apt"])
    wanted = {d.split()[0] for d in depends.split(",")} - base - {"adduser"}
    install = re.search(r"apt-get install (.*?)&&", final, re.S)
    check(install, "the final stage installs no packages")
    pinned = dict(re.findall(r"(?:^|\s)([a-z0-9][a-z0-9.+-]+)=(\S+)", install.group(1)))
    for dep in wanted:
        check(dep in pinned, f"the image does not install {dep}, which the package depends on")
    for name, version in pinned.items():
        have = run("dpkg-query", "-W", "-f", "${Version}", name, ok=False).stdout
        check(have == version, f"the Dockerfile pins {name}={version}; this Debian has {have!r}")
    for arg in re.findall(r'"(/[^"]+)"', final.split("ENTRYPOINT", 1)[1]):
        check(arg in paths, f"the image runs {arg}, which the package does not install")


def dependency_closure(roots):
    """The installed packages `roots` need, through Depends and Pre-Depends, with them."""
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        fields = run("dpkg-query", "-W", "-f", "${Depends}, ${Pre-Depends}", name, ok=False).stdout
        for alternative in fields.split(","):
            dep = alternative.split("|")[0].split("(")[0].split(":")[0].strip()
            if dep:
                todo.append(dep)
    return seen


def refuse_real_installation():
    version = installed_version()
    if (version or DATA_DIR.exists()) and not MARKER.exists():
        fail(f"logcatch is installed here ({version or DATA_DIR}) and not by this test: "
             "refusing to touch it")


def clean_machine(created_user):
    if installed_version():
        run("dpkg", "--purge", "logcatch", ok=False)
    if MARKER.exists():
        shutil.rmtree(DATA_DIR)
    TEST_LOG.unlink(missing_ok=True)
    if created_user:
        run("deluser", "--system", "logcatch", ok=False)
        run("delgroup", "--system", "logcatch", ok=False)
    shutil.rmtree("/etc/logcatch", ignore_errors=True)


def check_installed(paths):
    """Checks what dpkg -i made; returns the installed unit's [Service] settings."""
    step("installed: files, user, data dir, unit")
    for f in EXPECTED_FILES:
        check(Path(f).exists(), f"{f} was not installed")
    user = pwd.getpwnam("logcatch")
    check(user.pw_uid < 1000, f"logcatch is not a system user: uid {user.pw_uid}")
    check("logcatch" in grp.getgrnam("adm").gr_mem, "logcatch is not in the adm group")
    st = DATA_DIR.stat()
    check(st.st_uid == user.pw_uid and stat.S_IMODE(st.st_mode) == 0o750,
          f"{DATA_DIR}: uid {st.st_uid}, mode {oct(st.st_mode)}")
    wants = Path("/etc/systemd/system/multi-user.target.wants/logcatch.service")
    check(wants.is_symlink(), "the unit is not enabled")
    unit = unit_path(paths)
    verify = run("systemd-analyze", "verify", unit, ok=False)
    problems = [l for l in (verify.stdout + verify.stderr).splitlines()
                if "logcatch.service" in l]
    check(not problems, f"systemd-analyze verify: {problems}")
    security = run("systemd-analyze", "security", "--offline=yes", unit, ok=False).stdout
    exposure = re.search(r"Overall exposure level for logcatch.service: ([0-9.]+)", security)
    check(exposure and float(exposure.group(1)) <= 3.5,
          f"the unit's hardening regressed (systemd-analyze security):\n{security}")
    step(f"systemd-analyze security: exposure {exposure.group(1)} (0 is the most locked down)")
    run("logrotate", "--debug", "/etc/logrotate.d/logcatch")
    run("man", "-l", "/usr/share/man/man1/logcatch.1.gz", env={**os.environ, "MANPAGER": "cat"})
    return service_section(unit)


def as_user(*cmd):
    return ["setpriv", "--reuid=logcatch", "--regid=logcatch", "--init-groups", *cmd]


def service_section(unit):
    """The [Service] settings of the unit: name -> list of values, in order."""
    settings, section = {}, None
    for line in Path(unit).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def start_as_unit(s, notify_path):
    check(s["Type"] == ["notify"], f"Type={s['Type']}")
    check(s["User"] == ["logcatch"] and s["Group"] == ["logcatch"], "User/Group")
    check(s["SupplementaryGroups"] == ["adm"], "SupplementaryGroups")
    check(s["NoNewPrivileges"] == ["yes"] and s["ProtectSystem"] == ["strict"], "hardening")
    check(s["ReadWritePaths"] == [str(DATA_DIR)], "ReadWritePaths")
    check(s["Restart"] == ["on-failure"], "Restart")
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "NOTIFY_SOCKET": str(notify_path)}
    for assignment in s.get("Environment", []):
        k, v = assignment.split("=", 1)
        env[k] = v
    exec_start = s["ExecStart"][0].split()
    rw = s["ReadWritePaths"][0]
    # ProtectSystem=strict, ReadWritePaths, PrivateTmp: a mount namespace of its own.
    sandbox = (
        "set -e; mount --make-rprivate /; mount -o remount,bind,ro /; "
        f"mount --bind {rw} {rw}; mount -o remount,bind,rw {rw}; "
        "mount -t tmpfs -o mode=1777 tmpfs /tmp; exec \"$@\""
    )
    cmd = ["unshare", "--mount", "sh", "-c", sandbox, "sh",
           *as_user("--no-new-privs", "--bounding-set=-all", "--inh-caps=-all", *exec_start)]
    log = open(DATA_DIR.parent / "logcatch-package-test.stderr", "w")
    proc = subprocess.Popen(cmd, cwd="/", env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=log)
    return proc


def a_broken_config_is_not_restarted(s, tmp):
    step("a config that does not validate: the unit's command exits with the status it does not restart on")
    no_restart = s.get("RestartPreventExitStatus", [])
    check(no_restart == ["2"], f"RestartPreventExitStatus={no_restart}")
    broken = tmp / "broken.yaml"
    broken.write_text(CONFIG.read_text().replace("include:", "incldue:", 1))
    broken.chmod(0o644)
    tmp.chmod(0o755)
    exec_start = s["ExecStart"][0].split()
    check(exec_start[-2:] == ["--config", str(CONFIG)], f"ExecStart={exec_start}")
    p = run(*as_user(*exec_start[:-1], broken), ok=False, cwd="/")
    check(p.returncode == 2, f"exited {p.returncode}, not 2:\n{p.stderr}")
    check(f"{broken}:" in p.stderr and "incldue: unknown field" in p.stderr, p.stderr)


def recv(sock, what):
    try:
        return sock.recv(4096).decode()
    except socket.timeout:
        fail(f"no {what} notification")


def run_as_unit(settings):
    step("the binary, started as its unit starts it, delivers a line only adm may read")
    notify_dir = Path(tempfile.mkdtemp(prefix="logcatch-notify-", dir="/run"))
    notify_dir.chmod(0o755)
    notify_path = notify_dir / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify_path))
    notify_path.chmod(0o777)
    sock.settimeout(60)
    proc = start_as_unit(settings, notify_path)
    stderr_path = DATA_DIR.parent / "logcatch-package-test.stderr"
    try:
        ready = recv(sock, "READY=1")
        check(ready.startswith("READY=1\n"), f"first notification: {ready!r}")
        with urllib.request.urlopen(f"{API}/health", timeout=10) as r:
            check(r.status == 200, f"/health: {r.status}")
        line = f"package test line {os.getpid()} {time.time_ns()}"
        TEST_LOG.write_text("")
        os.chown(TEST_LOG, 0, grp.getgrnam("adm").gr_gid)
        TEST_LOG.chmod(0o640)
        with open(TEST_LOG, "a") as f:
            f.write(line + "\n")

        def delivered():
            if not SINK_FILE.exists():
                return False
            events = [json.loads(l) for l in SINK_FILE.read_text().splitlines() if l]
            return any(e.get("message") == line for e in events)
        wait_for(delivered, 30, f"{line!r} in {SINK_FILE}")

        reload_cmd = settings["ExecReload"][0].replace("$MAINPID", str(proc.pid)).split()
        run(*reload_cmd)
        check(recv(sock, "RELOADING=1").startswith("RELOADING=1\n"), "no RELOADING=1")
        check(recv(sock, "READY=1").startswith("READY=1\n"), "no READY=1 after the reload")

        proc.send_signal(signal.SIGTERM)
        check(recv(sock, "STOPPING=1").startswith("STOPPING=1\n"), "no STOPPING=1")
        proc.wait(timeout=45)
        log = stderr_path.read_text()
        check(proc.returncode == 0, f"exited {proc.returncode}:\n{log}")
        check("stopped cleanly; checkpoints written" in log, log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
        shutil.rmtree(notify_dir, ignore_errors=True)
    uid = pwd.getpwnam("logcatch").pw_uid
    checkpoints = list((DATA_DIR / "checkpoints").rglob("*")) if (DATA_DIR / "checkpoints").exists() else []
    check(any(p.is_file() for p in checkpoints), f"no checkpoint under {DATA_DIR}: {list(DATA_DIR.rglob('*'))}")
    for p in DATA_DIR.rglob("*"):
        if p != MARKER:
            check(p.stat().st_uid == uid, f"{p} is not the service's")
    stderr_path.unlink()


def upgrade_remove_purge(debs):
    step("upgrade to revision 2: the edited config and the data dir stay")
    with open(CONFIG, "a") as f:
        f.write("# edited by the package test\n")
    edited = CONFIG.read_text()
    before = sorted(p for p in DATA_DIR.rglob("*"))
    run("dpkg", "-i", debs["2"])
    check(installed_version().endswith("-2"), installed_version())
    check(CONFIG.read_text() == edited, "the upgrade changed the edited config")
    check(not list(CONFIG.parent.glob("*.dpkg-*")), list(CONFIG.parent.glob("*")))
    check(all(p.exists() for p in before), "the upgrade removed files of the data dir")

    step("remove: the binary goes; the config and the data dir stay")
    run("dpkg", "--remove", "logcatch")
    check(not Path("/usr/bin/logcatch").exists(), "/usr/bin/logcatch is still there")
    check(not Path("/usr/lib/logcatch/plugins").exists(), "the plugins are still there")
    check(CONFIG.read_text() == edited, "the removal changed the config")
    check(all(p.exists() for p in before), "the removal removed files of the data dir")
    check(installed_version().startswith("deinstall ok config-files"), installed_version())

    step("purge: the config goes; the data dir (checkpoints, dead letters) stays")
    purge = run("dpkg", "--purge", "logcatch")
    check(not CONFIG.exists(), "the purge kept the config")
    check(all(p.exists() for p in before), "the purge removed files of the data dir")
    check("/var/lib/logcatch" in purge.stderr, f"the purge did not say the data dir is kept: {purge.stderr}")
    check(not Path("/etc/systemd/system/multi-user.target.wants/logcatch.service").exists(),
          "the unit is still enabled")


def main():
    if os.geteuid() != 0:
        fail("run as root: it installs a package into this machine")
    refuse_real_installation()
    created_user = False
    with tempfile.TemporaryDirectory(prefix="logcatch-package-") as tmp:
        tmp = Path(tmp)
        debs = build_packages(tmp)
        cargo_install(tmp)
        paths, depends = check_contents(debs["1"])
        check_dockerfile(paths, depends)
        try:
            clean_machine(created_user=False)
            created_user = not any(u.pw_name == "logcatch" for u in pwd.getpwall())
            step(f"dpkg -i {debs['1'].name}")
            run("dpkg", "-i", debs["1"])
            MARKER.write_text("made by tests/package.py; deleted by it\n")
            service = check_installed(paths)
            step("logcatch validate of the installed config, as the service's user")
            out = run(*as_user("/usr/bin/logcatch", "validate", "-c", CONFIG), cwd="/")
            check("config ok" in out.stdout, out.stdout + out.stderr)
            a_broken_config_is_not_restarted(service, tmp)
            run_as_unit(service)
            upgrade_remove_purge(debs)
        finally:
            clean_machine(created_user)
    step("passed")


if __name__ == "__main__":
    main()
