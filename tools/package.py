"""Builds the .deb and .rpm that nfpm.yaml describes, with dpkg-deb and rpmbuild (see tools/package.sh)."""
import argparse
import datetime
import gzip
import hashlib
import os
import shutil
import subprocess
import tempfile
import textwrap

import yaml

DEB_SCRIPTS = {"postinstall": "postinst", "preremove": "prerm", "postremove": "postrm"}
RPM_SCRIPTS = {"postinstall": "%post", "preremove": "%preun", "postremove": "%postun"}


def load(path, version):
    with open(path) as f:
        manifest = yaml.safe_load(f.read().replace("${UDP_FANOUT_VERSION}", version))
    manifest["version"] = str(manifest["version"])
    return manifest


def changelog(manifest):
    """nfpm's changelog file (chglog format), newest first; the version being built must have an entry."""
    with open(manifest["changelog"]) as f:
        entries = yaml.safe_load(f)
    if entries[0]["semver"] != manifest["version"]:
        raise SystemExit(f"{manifest['changelog']}: the newest entry is {entries[0]['semver']}, not {manifest['version']}: add one")
    for entry in entries:
        if isinstance(entry["date"], str):
            entry["date"] = datetime.datetime.fromisoformat(entry["date"].replace("Z", "+00:00"))
    return entries


def files_for(manifest, packager):
    """The contents entries that go into one format (nfpm's `packager:` limits an entry to one)."""
    return [i for i in manifest["contents"] if i.get("packager", packager) == packager]


def stage(items, root):
    # dpkg-deb and rpmbuild take directory modes from the staging tree: 0755 whatever the umask or the
    # temporary directory's own 0700, so the package never installs a directory the service user cannot enter.
    os.chmod(root, 0o755)
    for item in items:
        target = root + item["dst"]
        directory = target if item.get("type") == "dir" else os.path.dirname(target)
        for parent in reversed([p for p in _parents(root, directory) if not os.path.isdir(p)]):
            os.mkdir(parent)
            os.chmod(parent, 0o755)
        if item.get("type") == "dir":
            os.chmod(target, item["file_info"]["mode"])
            continue
        shutil.copyfile(item["src"], target)
        os.chmod(target, item["file_info"]["mode"])


def _parents(root, path):
    while path != root:
        yield path
        path = os.path.dirname(path)


def gzip_file(text, path):
    """gzip -9n: maximum compression and no timestamp, so the same input makes the same package."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0, filename="") as f:
        f.write(text.encode())


def debian_changelog(manifest, entries):
    blocks = []
    for e in entries:
        notes = "".join(textwrap.fill(c["note"], 80, initial_indent="  * ", subsequent_indent="    ") + "\n" for c in e["changes"])
        blocks.append(f"{manifest['name']} ({e['semver']}-{manifest['release']}) stable; urgency=medium\n\n{notes}\n"
                      f" -- {e['packager']}  {e['date'].strftime('%a, %d %b %Y %H:%M:%S %z')}\n")
    return "\n".join(blocks)


def rpm_changelog(manifest, entries):
    return "\n".join(
        f"* {e['date'].strftime('%a %b %d %Y')} {e['packager']} - {e['semver']}-{manifest['release']}\n"
        + "".join(textwrap.fill(c["note"], 79, initial_indent="- ", subsequent_indent="  ") + "\n" for c in e["changes"])
        for e in entries)


def scripts(manifest, packager):
    return manifest["overrides"][packager]["scripts"]


def build_deb(manifest, entries, out):
    m = manifest
    with tempfile.TemporaryDirectory() as root:
        stage(files_for(m, "deb"), root)
        gzip_file(debian_changelog(m, entries), os.path.join(root, "usr/share/doc", m["name"], "changelog.Debian.gz"))
        os.chmod(os.path.join(root, "usr/share/doc", m["name"], "changelog.Debian.gz"), 0o644)
        debian = os.path.join(root, "DEBIAN")
        os.makedirs(debian)
        description = m["description"].strip().split("\n")
        control = [
            f"Package: {m['name']}",
            f"Version: {m['version']}-{m['release']}",
            f"Architecture: {m['arch']}",
            f"Maintainer: {m['maintainer']}",
            f"Depends: {', '.join(m['overrides']['deb']['depends'])}",
            f"Section: {m['section']}",
            f"Priority: {m['priority']}",
            f"Homepage: {m['homepage']}",
            f"Description: {description[0]}",
            *[f" {line}" for line in description[1:]],
        ]
        with open(os.path.join(debian, "control"), "w") as f:
            f.write("\n".join(control) + "\n")
        conffiles = [i["dst"] for i in m["contents"] if i.get("type", "").startswith("config")]
        with open(os.path.join(debian, "conffiles"), "w") as f:
            f.write("".join(c + "\n" for c in conffiles))
        with open(os.path.join(debian, "md5sums"), "w") as f:
            f.write(md5sums(root, conffiles))
        for key, name in DEB_SCRIPTS.items():
            shutil.copyfile(scripts(m, "deb")[key], os.path.join(debian, name))
            os.chmod(os.path.join(debian, name), 0o755)
        path = os.path.join(out, f"{m['name']}_{m['version']}-{m['release']}_{m['arch']}.deb")
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", root, path], check=True, stdout=subprocess.DEVNULL)
        return path


def md5sums(root, conffiles):
    """DEBIAN/md5sums as dh_md5sums writes it: every file but the conffiles (dpkg tracks those itself)."""
    lines = []
    for directory, _, names in sorted(os.walk(root)):
        for name in sorted(names):
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, root)
            if relative.startswith("DEBIAN/") or "/" + relative in conffiles:
                continue
            with open(path, "rb") as f:
                lines.append(f"{hashlib.md5(f.read()).hexdigest()}  {relative}\n")
    return "".join(lines)


def build_rpm(manifest, entries, out):
    m = manifest
    with tempfile.TemporaryDirectory() as top:
        root = os.path.join(top, "root")
        os.mkdir(root)
        items = files_for(m, "rpm")
        stage(items, root)
        files = []
        for item in items:
            attr = f"%attr({item['file_info']['mode']:04o},root,root)"
            kind = {"config|noreplace": "%config(noreplace) ", "doc": "%doc ", "dir": "%dir "}.get(item.get("type", ""), "")
            files.append(f"{attr} {kind}{item['dst']}")
        rpm_scripts = "".join(f"{tag}\n{open(scripts(m, 'rpm')[key]).read()}\n" for key, tag in RPM_SCRIPTS.items())
        description = m["description"].strip().split("\n")
        spec = f"""Name: {m['name']}
Version: {m['version']}
Release: {m['release']}
Summary: {description[0]}
License: {m['license']}
Group: {m['rpm']['group']}
Packager: {m['rpm']['packager']}
URL: {m['homepage']}
Vendor: {m['vendor']}
BuildArch: x86_64
{''.join(f'Requires: {d}' + chr(10) for d in m['overrides']['rpm']['depends'])}
%description
{chr(10).join(description[1:])}

%install
cp -a {root}/. %{{buildroot}}/

{rpm_scripts}
%files
{chr(10).join(files)}

%changelog
{rpm_changelog(m, entries)}
"""
        spec_path = os.path.join(top, "udp-fanout.spec")
        with open(spec_path, "w") as f:
            f.write(spec)
        subprocess.run(["rpmbuild", "-bb", "--define", f"_topdir {top}/rpmbuild", "--define", "__strip /bin/true",
                        "--define", "_build_id_links none", "--define", "debug_package %{nil}", spec_path],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        built = os.path.join(top, "rpmbuild", "RPMS", "x86_64", f"{m['name']}-{m['version']}-{m['release']}.x86_64.rpm")
        path = os.path.join(out, os.path.basename(built))
        shutil.copyfile(built, path)
        return path


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--version", required=True)
    p.add_argument("--manifest", default="nfpm.yaml")
    p.add_argument("--out", default="artifacts/packages")
    args = p.parse_args()
    manifest = load(args.manifest, args.version)
    entries = changelog(manifest)
    os.makedirs(args.out, exist_ok=True)
    for path in (build_deb(manifest, entries, args.out), build_rpm(manifest, entries, args.out)):
        print(path)


if __name__ == "__main__":
    main()
