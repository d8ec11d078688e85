"""`sluice deploy`, `get` and `delete` driving kubectl and a container
engine: stand-in executables on PATH record every command line, so the
tests see exactly what would run against a cluster. Also the errors a spec
that cannot be deployed as written gets, with file:line:column."""
import os
import shlex
import stat

import pytest

from deployutil import ROOT, sluice, spec_path

FAKE = r"""#!/bin/bash
# stand-in for {name}: logs its command line, answers like a cluster would
printf '%q ' "${{0##*/}}" "$@" >> "$FAKE_LOG"; echo >> "$FAKE_LOG"
case "${{0##*/}} $*" in
  "kubectl version --request-timeout=5s") exit ${{FAKE_NO_CLUSTER:-0}} ;;
  "kubectl get crd scaledobjects.keda.sh") exit ${{FAKE_NO_KEDA:-0}} ;;
  "kubectl get namespace "*) exit 1 ;;
esac
exit ${{FAKE_FAIL:-0}}
"""


def fake_path(tmp_path, *names):
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    for n in names:
        p = d / n
        p.write_text(FAKE.format(name=n))
        p.chmod(p.stat().st_mode | stat.S_IEXEC)
    return d


def env_with(tmp_path, bindir, **extra):
    log = tmp_path / "log"
    log.write_text("")
    env = {"PATH": str(bindir), "FAKE_LOG": str(log), "HOME": str(tmp_path)}
    env.update({k: str(v) for k, v in extra.items()})
    return env, log


def calls(log):
    return [shlex.split(l) for l in log.read_text().splitlines() if l.strip()]


def run_deploy(tmp_path, spec, *args, env):
    out = tmp_path / "out"
    r = sluice("deploy", spec, "--output", str(out), *args, env=env)
    return r, out


def test_deploy_builds_pushes_applies_in_order(tmp_path):
    bindir = fake_path(tmp_path, "kubectl", "docker")
    env, log = env_with(tmp_path, bindir)
    r, out = run_deploy(tmp_path, spec_path("http_only"), "--registry", "reg.local:5000",
                        "--source", ROOT, env=env)
    assert r.returncode == 0, r.stderr
    image = next(l for l in r.stdout.splitlines() if "image" in l).split("image ")[1]
    assert image.startswith("reg.local:5000/weblogs:0.")
    assert calls(log) == [
        ["kubectl", "version", "--request-timeout=5s"],
        ["docker", "build", "--build-context", f"sluice-src={ROOT}", "-t", image,
         "-f", f"{out}/Dockerfile", str(out)],
        ["docker", "push", image],
        ["kubectl", "get", "namespace", "analytics"],
        ["kubectl", "create", "namespace", "analytics"],
        ["kubectl", "apply", "-f", f"{out}/k8s"],
        ["kubectl", "-n", "analytics", "rollout", "status", "deployment/weblogs",
         "--timeout=5m"],
    ]
    assert "is running in namespace analytics" in r.stdout


def test_printed_commands_are_the_ones_that_run(tmp_path):
    """Without kubectl the same commands are printed for a person to run."""
    bindir = fake_path(tmp_path, "kubectl", "podman")
    env, log = env_with(tmp_path, bindir)
    r, out = run_deploy(tmp_path, spec_path("http_only"), "--registry", "reg.local:5000",
                        env=env)
    assert r.returncode == 0, r.stderr
    ran = [c for c in calls(log) if c[:2] not in (["kubectl", "version"], ["kubectl", "get"])]
    assert ran[0][0] == "podman"  # whichever engine is present
    (bindir / "kubectl").unlink()
    env2, log2 = env_with(tmp_path, bindir)
    r2, _ = run_deploy(tmp_path, spec_path("http_only"), "--registry", "reg.local:5000",
                       env=env2)
    assert r2.returncode == 0 and "kubectl is not on PATH" in r2.stdout
    assert calls(log2) == []  # nothing was run
    printed = [shlex.split(l) for l in r2.stdout.splitlines()
               if l.startswith("  ") and not l.strip().startswith("#")]
    assert printed == ran


def test_dry_run_and_unreachable_cluster_run_nothing(tmp_path):
    bindir = fake_path(tmp_path, "kubectl", "docker")
    env, log = env_with(tmp_path, bindir)
    r, _ = run_deploy(tmp_path, spec_path("http_only"), "--dry-run", env=env)
    assert r.returncode == 0 and "--dry-run" in r.stdout and calls(log) == []
    # no --registry: the commands say how to get the image onto the nodes
    assert "no --registry" in r.stdout
    env, log = env_with(tmp_path, bindir, FAKE_NO_CLUSTER=1)
    r, out = run_deploy(tmp_path, spec_path("http_only"), env=env)
    assert r.returncode == 0 and "no Kubernetes cluster answered" in r.stdout
    assert calls(log) == [["kubectl", "version", "--request-timeout=5s"]]
    assert (out / "k8s" / "10-deployment.yaml").is_file()


def test_kafka_function_needs_keda(tmp_path):
    bindir = fake_path(tmp_path, "kubectl", "docker")
    env, log = env_with(tmp_path, bindir, FAKE_NO_KEDA=1)
    r, _ = run_deploy(tmp_path, spec_path("kafka_gpu"), "--image", "reg/x:1", env=env)
    assert r.returncode == 1 and "KEDA" in r.stderr
    assert not any(c[:2] == ["kubectl", "apply"] for c in calls(log))


def test_prebuilt_image_without_engine_is_applied(tmp_path):
    bindir = fake_path(tmp_path, "kubectl")
    env, log = env_with(tmp_path, bindir)
    r, out = run_deploy(tmp_path, spec_path("volumes_env"), "--image", "reg/fb:2", env=env)
    assert r.returncode == 0, r.stderr
    assert ["kubectl", "apply", "-f", f"{out}/k8s"] in calls(log)
    r, _ = run_deploy(tmp_path, spec_path("volumes_env"), env=env)
    assert r.returncode == 1 and "no container engine" in r.stderr


def test_failed_step_stops_the_deploy(tmp_path):
    bindir = fake_path(tmp_path, "kubectl", "docker")
    env, log = env_with(tmp_path, bindir, FAKE_FAIL=3)
    r, _ = run_deploy(tmp_path, spec_path("volumes_env"), "--registry", "r.io", env=env)
    assert r.returncode == 1 and "image build failed (exit 3)" in r.stderr
    assert [c[0] for c in calls(log)] == ["kubectl", "docker"]


def test_get_and_delete_mirror_nuctl(tmp_path):
    bindir = fake_path(tmp_path, "kubectl")
    env, log = env_with(tmp_path, bindir)
    assert sluice("get", env=env).returncode == 0
    assert sluice("get", "function", "weblogs", "-n", "analytics", env=env).returncode == 0
    assert sluice("delete", "weblogs", "--namespace", "analytics", env=env).returncode == 0
    c = calls(log)
    assert c[0][:5] == ["kubectl", "get", "deployment", "-l", "sluice.dev/function"]
    assert c[0][5] == "-o" and c[0][6].startswith("custom-columns=NAMESPACE:")
    sel = "sluice.dev/function=weblogs"
    assert c[1] == ["kubectl", "get", "deployment,service,configmap,horizontalpodautoscaler,"
                    "poddisruptionbudget,pod", "-l", sel, "-n", "analytics"]
    assert c[2] == ["kubectl", "get", "crd", "scaledobjects.keda.sh"]
    assert c[3] == ["kubectl", "get", "scaledobjects.keda.sh", "-l", sel, "-n", "analytics"]
    # delete: the ScaledObject first (when KEDA is there), then the rest
    assert c[4] == ["kubectl", "get", "crd", "scaledobjects.keda.sh"]
    assert c[5] == ["kubectl", "delete", "scaledobjects.keda.sh", "-l", sel,
                    "--ignore-not-found", "-n", "analytics"]
    assert c[6] == ["kubectl", "delete", "horizontalpodautoscaler,poddisruptionbudget,"
                    "service,deployment,configmap", "-l", sel, "--ignore-not-found",
                    "-n", "analytics"]
    r = sluice("delete", "Bad_Name", env=env)
    assert r.returncode == 2 and "Bad_Name" in r.stderr
    (bindir / "kubectl").unlink()
    r = sluice("delete", "weblogs", "--dry-run", env=env)
    assert r.returncode == 0 and "kubectl delete" in r.stdout
    r = sluice("get", env=env)
    assert r.returncode == 1 and "kubectl is not on PATH" in r.stderr


BAD = [
    ("host from the environment",
     "metadata: {name: f}\nspec:\n  runtime: passthrough\n  triggers:\n"
     "    web:\n      kind: http\n      attributes: {host: '${MYHOST}', port: 80}\n",
     "7:26: spec.triggers.web.attributes.host: expected 0.0.0.0"),
    ("port 0",
     "metadata: {name: f}\nspec:\n  runtime: passthrough\n  triggers:\n"
     "    web:\n      kind: http\n      attributes:\n        host: 0.0.0.0\n"
     "        port: 0\n",
     "9:15: spec.triggers.web.attributes.port: expected a fixed port"),
    ("name", "metadata: {name: My_Fn}\nspec: {runtime: passthrough, admin: {host: 0.0.0.0}}\n",
     "1:18: metadata.name: expected a DNS label"),
    ("cuda without gpu",
     "metadata: {name: f}\nspec:\n  runtime: passthrough\n  device: cuda\n"
     "  admin: {host: 0.0.0.0}\n",
     "4:11: spec.device: expected resources.limits nvidia.com/gpu"),
    ("gpu mismatch",
     "metadata: {name: f}\nspec:\n  runtime: passthrough\n  admin: {host: 0.0.0.0}\n"
     "  resources:\n    requests: {nvidia.com/gpu: 2}\n    limits: {nvidia.com/gpu: 1}\n",
     "6:32: spec.resources.requests.nvidia.com/gpu: expected the same count"),
    ("mount name",
     "metadata: {name: f}\nspec:\n  runtime: passthrough\n  admin: {host: 0.0.0.0}\n"
     "  volumes:\n    - volume: {name: a, emptyDir: {}}\n"
     "      volumeMount: {name: b, mountPath: /a}\n",
     "7:27: spec.volumes[0].volumeMount: expected name equal to the volume's name"),
    ("resources key",
     "metadata: {name: f}\nspec:\n  runtime: passthrough\n  admin: {host: 0.0.0.0}\n"
     "  resources:\n    request: {cpu: 1}\n",
     "6:14: spec.resources.request: expected requests or limits"),
]


@pytest.mark.parametrize("what,text,message", BAD, ids=[b[0] for b in BAD])
def test_specs_that_cannot_deploy_fail_with_a_location(tmp_path, what, text, message):
    spec = tmp_path / "fn.yaml"
    spec.write_text(text)
    env = dict(os.environ, MYHOST="127.0.0.1")
    r = sluice("deploy", str(spec), "--dry-run", "--output", str(tmp_path / "o"), env=env)
    assert r.returncode == 1, r.stdout
    assert f"{spec}:{message}" in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()


def test_bad_flags(tmp_path):
    for args in (["--partitions", "0"], ["--lag-threshold", "x"], ["--cpu-target", "5000"]):
        r = sluice("deploy", spec_path("http_only"), "--dry-run", "-o", str(tmp_path), *args)
        assert r.returncode == 2 and args[0] in r.stderr
    r = sluice("deploy")
    assert r.returncode == 2 and "usage" in r.stderr


LOOPBACK = [
    ("flow map, literal loopback",
     "metadata: {name: f}\nspec:\n  runtime: passthrough\n  triggers:\n"
     "    web:\n      kind: http\n      attributes: {host: 127.0.0.1, port: 80}\n",
     [["spec", "triggers", "web", "attributes", "host"]], "7"),
    ("quoted, with a comment after it",
     "metadata: {name: f}\nspec:\n  runtime: passthrough\n  triggers:\n"
     "    web:\n      kind: http\n      attributes:\n"
     "        port: 81\n        host: '127.0.0.1'   # laptop\n",
     [["spec", "triggers", "web", "attributes", "host"]], "9"),
    ("block attributes without host",
     "metadata: {name: f}\nspec:\n  runtime: passthrough\n  triggers:\n"
     "    web:\n      kind: http\n      attributes:\n        port: 82\n",
     [["spec", "triggers", "web", "attributes", "host"]], "8"),
    ("no attributes at all",
     "metadata: {name: f}\nspec:\n  runtime: passthrough\n  triggers:\n"
     "    web: {kind: http}\n    other:\n      kind: http\n"
     "      attributes:\n        port: 9000\n",
     [["spec", "triggers", "web", "attributes", "host"],
      ["spec", "triggers", "other", "attributes", "host"]], "5, 9"),
    ("empty flow attributes",
     "metadata: {name: f}\nspec:\n  runtime: passthrough\n  triggers:\n"
     "    web:\n      kind: http\n      attributes: {}\n",
     [["spec", "triggers", "web", "attributes", "host"]], "7"),
    ("admin server, no http trigger",
     "metadata: {name: f}\nspec:\n  runtime: passthrough\n",
     [["spec", "admin", "host"]], "3"),
]


@pytest.mark.parametrize("what,text,paths,lines", LOOPBACK, ids=[l[0] for l in LOOPBACK])
def test_pod_copy_listens_on_every_interface(tmp_path, what, text, paths, lines):
    """Loopback hosts (written or defaulted) become 0.0.0.0 in the pod's copy
    of the spec; every other byte stays, and the copy is a valid spec."""
    import yaml
    spec = tmp_path / "fn.yaml"
    spec.write_text(text)
    r = sluice("deploy", str(spec), "--dry-run", "--output", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    assert f"listen address 0.0.0.0 in the pod's copy of the spec (line {lines};" in r.stdout
    pod = (tmp_path / "o" / "function.yaml").read_text()
    want = yaml.safe_load(text)
    for p in paths:
        node = want
        for k in p[:-1]:
            node = node.setdefault(k, {}) if node.get(k) is not None else node.setdefault(k, {})
        node[p[-1]] = "0.0.0.0"
    assert yaml.safe_load(pod) == want
    assert sum(1 for a, b in zip(text.splitlines(), pod.splitlines()) if a == b) >= \
        len(text.splitlines()) - 2 * len(paths)
    if "laptop" in text:
        assert "host: 0.0.0.0   # laptop" in pod
    chk = sluice("check", str(tmp_path / "o" / "function.yaml"))
    assert chk.returncode == 0, chk.stderr
    cm = yaml.safe_load((tmp_path / "o" / "k8s" / "00-configmap.yaml").read_text())
    assert cm["data"]["function.yaml"] == pod


def test_cron_and_file_triggers_warn_about_replicas(tmp_path):
    spec = tmp_path / "fn.yaml"
    spec.write_text("metadata: {name: f}\nspec:\n  runtime: passthrough\n"
                    "  maxReplicas: 3\n  triggers:\n"
                    "    tick: {kind: cron, attributes: {schedule: '@every 1m'}}\n")
    r = sluice("deploy", str(spec), "--dry-run", "--output", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    assert "warning: trigger tick (cron) runs in every replica" in r.stdout
    spec.write_text(spec.read_text().replace("maxReplicas: 3", "maxReplicas: 1"))
    r = sluice("deploy", str(spec), "--dry-run", "--output", str(tmp_path / "o"))
    assert r.returncode == 0 and "warning" not in r.stdout


def test_source_tree_is_found_above_the_binary(tmp_path):
    """Without --source, the tree above the binary's build folder (or above
    the current directory) is the one the image builds from."""
    from deployutil import SLUICE
    above = os.path.dirname(os.path.dirname(SLUICE))
    want = above if os.path.isfile(os.path.join(above, "scripts", "build.sh")) else ROOT
    r = sluice("deploy", spec_path("http_only"), "--dry-run", "-o", str(tmp_path), cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert f"--build-context sluice-src={want} " in r.stdout
