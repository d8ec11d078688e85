"""The image recipe of `sluice deploy`, checked without a container engine.

The build stage of the Dockerfile must be the README's own build: Debian 12,
as root, `make build`'s steps (scripts/deps.sh build, scripts/build.sh
release). The test reads those steps from the Makefile and the README and
compares them with the Dockerfile's RUN lines; then it assembles a folder
from the Dockerfile's COPY lines alone and runs the build stage's RUN lines
in it, proving the copied paths are enough to build and that the bundled
binary starts with only its bundled libraries.
"""
import os
import re
import shlex
import shutil
import subprocess

import pytest

from deployutil import ROOT, deploy, spec_path


def makefile_steps(target):
    with open(os.path.join(ROOT, "Makefile")) as f:
        lines = f.read().splitlines()
    start = next(i for i, l in enumerate(lines) if re.match(rf"^{target}:", l))
    steps = []
    for l in lines[start + 1:]:
        if not l.startswith("\t"):
            break
        steps.append(l.strip().lstrip("@"))
    return steps


def stages(dockerfile):
    """[(base, name, [(instruction, args)])] with line continuations joined
    and ARG defaults substituted into FROM."""
    text = re.sub(r"\\\n", " ", open(dockerfile).read())
    args, out = {}, []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        ins, _, rest = line.partition(" ")
        ins = ins.upper()
        if ins == "ARG" and not out:
            k, _, v = rest.partition("=")
            args[k] = v
        elif ins == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], parts[0])
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            out.append((base, name, []))
        else:
            out[-1][2].append((ins, re.sub(r"\s+", " ", rest)))
    return out


@pytest.fixture(scope="module")
def cpu_df(tmp_path_factory):
    d = tmp_path_factory.mktemp("cpu")
    deploy(d, spec_path("http_only"))
    return d, stages(os.path.join(d, "Dockerfile"))


@pytest.fixture(scope="module")
def gpu_df(tmp_path_factory):
    d = tmp_path_factory.mktemp("gpu")
    deploy(d, spec_path("kafka_gpu"))
    return d, stages(os.path.join(d, "Dockerfile"))


def test_build_steps_are_the_readme_steps(cpu_df, gpu_df):
    readme = open(os.path.join(ROOT, "README.md")).read()
    assert "fresh Debian 12 machine (as root)" in readme
    build = makefile_steps("build")
    assert build == ["scripts/deps.sh build", "scripts/build.sh release"]
    assert makefile_steps("run")[:len(build)] == build  # `make run` = build + demo
    for step in build:
        assert step.split()[0] in readme  # the README's Development section
    for _, st in (cpu_df, gpu_df):
        base, name, ins = st[0]
        assert (base, name) == ("debian:12", "build")
        runs = [a for i, a in ins if i == "RUN"]
        assert runs[:len(build)] == build
        assert len(runs) == len(build) + 1 and runs[-1].startswith("mkdir -p /opt/sluice")
        assert "USER" not in [i for i, _ in ins]  # root, as the README says


def test_runtime_stage_cpu(cpu_df):
    d, st = cpu_df
    assert [s[1] for s in st] == ["build", None]
    base, _, ins = st[-1]
    assert base == "debian:12-slim"
    final = dict(ins)
    assert final["USER"] == "10001:10001"
    assert final["ENTRYPOINT"] == '["/opt/sluice/bin/sluice"]'
    assert final["CMD"] == '["run", "/etc/sluice/function.yaml"]'
    assert ("COPY", "--from=build /opt/sluice/ /opt/sluice/") in ins
    assert ("EXPOSE", "8080") in ins
    assert "SLUICE_CUDA_LIB" not in open(os.path.join(d, "Dockerfile")).read()
    assert open(os.path.join(d, "Dockerfile")).readline() == "# syntax=docker/dockerfile:1\n"


def test_runtime_stage_gpu(gpu_df):
    _, st = gpu_df
    assert [s[1] for s in st] == ["build", "cuda-build", None]
    assert re.fullmatch(r"nvidia/cuda:12\.\d+\.\d+-devel-ubuntu24\.04", st[1][0])
    runs = [a for i, a in st[1][2] if i == "RUN"]
    assert any("scripts/cuda-build.sh /out" in r for r in runs)
    base, _, ins = st[-1]
    assert re.fullmatch(r"nvidia/cuda:12\.\d+\.\d+-runtime-ubuntu24\.04", base)
    assert ("COPY", "--from=cuda-build /out/ /opt/sluice/lib/") in ins
    env = " ".join(a for i, a in ins if i == "ENV")
    assert "SLUICE_CUDA_LIB=/opt/sluice/lib/libsluice_cuda.so" in env
    assert dict(ins)["USER"] == "10001:10001"


def test_handler_library_goes_into_the_image(tmp_path):
    lib = tmp_path / "build" / "libhello.so"
    lib.parent.mkdir()
    lib.write_bytes(b"\x7fELF not really, but bytes to copy\x00\x01")
    (tmp_path / "fn.yaml").write_text(
        "metadata: {name: hello}\n"
        "spec:\n  runtime: c\n  handler: build/libhello.so:hello\n"
        "  triggers:\n    web: {kind: http, attributes: {host: 0.0.0.0, port: 8088}}\n")
    deploy(tmp_path / "out", "fn.yaml", cwd=tmp_path)
    st = stages(os.path.join(tmp_path, "out", "Dockerfile"))
    ins = st[-1][2]
    assert ("COPY", '["handler/libhello.so", "/opt/sluice/function/build/libhello.so"]') in ins
    assert dict(ins)["WORKDIR"] == "/opt/sluice/function"  # run resolves it from there
    assert (tmp_path / "out" / "handler" / "libhello.so").read_bytes() == lib.read_bytes()
    # a missing library is an error at the spec's handler line
    lib.unlink()
    r = deploy(tmp_path / "out2", "fn.yaml", cwd=tmp_path, check=False)
    assert r.returncode == 1 and "fn.yaml:4:12:" in r.stderr and "spec.handler" in r.stderr


def test_build_stage_runs_from_its_copies(cpu_df, tmp_path):
    """Assemble the build context from the COPY lines, run the RUN lines."""
    _, st = cpu_df
    ctx = tmp_path / "src"
    ctx.mkdir()
    runs = []
    for ins, a in st[0][2]:
        if ins == "COPY":
            frm, src, dst = a.split()
            assert frm == "--from=sluice-src"
            s = os.path.join(ROOT, src)
            if os.path.isdir(s):
                shutil.copytree(s, ctx / dst.rstrip("/"),
                                ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(s, ctx / dst)
        elif ins == "RUN":
            runs.append(a.replace("/opt/sluice", str(tmp_path / "opt")))
    for cmd in runs:
        r = subprocess.run(["bash", "-c", "set -euo pipefail; " + cmd], cwd=ctx,
                           capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, (cmd, r.stdout[-2000:], r.stderr[-2000:])
    bundled = sorted(os.listdir(tmp_path / "opt" / "lib"))
    assert any(l.startswith("libzstd.so") for l in bundled)
    assert not any(re.match(r"lib(c|m|pthread|stdc\+\+)\.so", l) for l in bundled)
    env = {"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": str(tmp_path / "opt" / "lib")}
    r = subprocess.run([str(tmp_path / "opt" / "bin" / "sluice"), "version"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stdout.startswith("sluice ")
    # the bundled copies are what the loader picks
    r = subprocess.run(["ldd", str(tmp_path / "opt" / "bin" / "sluice")],
                       capture_output=True, text=True, env=env)
    zstd = [l for l in r.stdout.splitlines() if "libzstd" in l]
    assert zstd and str(tmp_path / "opt" / "lib") in zstd[0]
