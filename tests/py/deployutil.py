"""Helpers of the deploy tests: run `sluice deploy` and read what it wrote."""
import os
import subprocess

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("SLUICE_BUILD", os.path.join(ROOT, "build")))
SLUICE = os.path.join(BUILD, "sluice")
SPECS = os.path.join(ROOT, "tests", "data", "deploy")


def spec_path(name):
    return os.path.join(SPECS, name + ".yaml")


def sluice(*args, env=None, cwd=None):
    """Runs the binary; returns the CompletedProcess (text)."""
    assert os.path.isfile(SLUICE), f"build sluice first: {SLUICE} is missing"
    return subprocess.run([SLUICE, *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=60)


def deploy(out_dir, spec, *extra, env=None, cwd=None, check=True):
    r = sluice("deploy", spec, "--dry-run", "--output", str(out_dir), *extra,
               env=env, cwd=cwd)
    if check:
        assert r.returncode == 0, r.stderr + r.stdout
    return r


def objects(out_dir):
    """Every object under out_dir/k8s, by kind."""
    by_kind = {}
    k8s = os.path.join(str(out_dir), "k8s")
    for name in sorted(os.listdir(k8s)):
        with open(os.path.join(k8s, name)) as f:
            for doc in yaml.safe_load_all(f):
                if doc:
                    assert doc["kind"] not in by_kind, name
                    by_kind[doc["kind"]] = doc
    return by_kind


def container(objs):
    return objs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
