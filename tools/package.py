"""Builds the .deb and .rpm that nfpm.yaml describes, with dpkg-deb and rpmbuild (see tools/package.sh)."""
import argparse
import os
import shutil
import subprocess
import tempfile

import yaml

DEB_SCRIPTS = {"postinstall": "postinst", "preremove": "prerm", "postremove": "postrm"}
RPM_SCRIPTS = {"postinstall": "%post", "preremove": "%preun", "postremove": "%postun"}


def load(path, version):
    with open(path) as f:
        manifest = yaml.safe_load(f.read().replace("${UDP_FANOUT_VERSION}", version))
    manifest["version"] = str(manifest["version"])
    return manifest


def stage(manifest, root):
    for item in manifest["contents"]:
        target = root + item["dst"]
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(item["src"], target)
        os.chmod(target, item["file_info"]["mode"])


def build_deb(manifest, out):
    m = manifest
    with tempfile.TemporaryDirectory() as root:
        stage(m, root)
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
        for key, name in DEB_SCRIPTS.items():
            shutil.copyfile(m["scripts"][key], os.path.join(debian, name))
            os.chmod(os.path.join(debian, name), 0o755)
        path = os.path.join(out, f"{m['name']}_{m['version']}-{m['release']}_{m['arch']}.deb")
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", root, path], check=True, stdout=subprocess.DEVNULL)
        return path


def build_rpm(manifest, out):
    m = manifest
    with tempfile.TemporaryDirectory() as top:
        root = os.path.join(top, "root")
        stage(m, root)
        files = []
        for item in m["contents"]:
            attr = f"%attr({item['file_info']['mode']:04o},root,root)"
            kind = {"config|noreplace": "%config(noreplace) ", "doc": "%doc "}.get(item.get("type", ""), "")
            files.append(f"{attr} {kind}{item['dst']}")
        scripts = "".join(f"{tag}\n{open(m['scripts'][key]).read()}\n" for key, tag in RPM_SCRIPTS.items())
        spec = f"""Name: {m['name']}
Version: {m['version']}
Release: {m['release']}
Summary: {m['description'].strip().splitlines()[0]}
License: {m['license']}
URL: {m['homepage']}
Vendor: {m['vendor']}
BuildArch: x86_64
{''.join(f'Requires: {d}' + chr(10) for d in m['overrides']['rpm']['depends'])}
%description
{m['description'].strip()}

%install
cp -a {root}/. %{{buildroot}}/

{scripts}
%files
{chr(10).join(files)}
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
    os.makedirs(args.out, exist_ok=True)
    for path in (build_deb(manifest, args.out), build_rpm(manifest, args.out)):
        print(path)


if __name__ == "__main__":
    main()
