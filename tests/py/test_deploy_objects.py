"""`sluice deploy` objects, validated offline.

Every rendered Kubernetes object is checked against the Kubernetes OpenAPI
schemas (kubernetes-validate, strict: unknown fields are errors) for the
oldest and newest Kubernetes it ships; the KEDA ScaledObject against the
openAPIV3Schema of KEDA's own CRD (tests/data/keda, source noted there), made
strict the way `kubectl apply --validate=strict` is. Values are checked
against the spec files read independently with PyYAML and hand-computed
numbers. No cluster or container engine is needed.
"""
import copy
import os

import jsonschema
import kubernetes_validate
import pytest
import yaml

from deployutil import ROOT, container, deploy, objects, spec_path

K8S_VERSIONS = ["1.25.0", kubernetes_validate.latest_version()]
KEDA_CRD = os.path.join(ROOT, "tests", "data", "keda", "keda.sh_scaledobjects.yaml")
SPECS = ["http_only", "kafka_gpu", "volumes_env"]


def keda_schema():
    with open(KEDA_CRD) as f:
        crd = yaml.safe_load(f)
    assert crd["spec"]["names"]["kind"] == "ScaledObject"
    (ver,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    return strict(copy.deepcopy(ver["schema"]["openAPIV3Schema"]))


def strict(schema):
    """Unknown fields become errors (the API server's strict field
    validation), except where the schema keeps unknown fields on purpose."""
    if isinstance(schema, dict):
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        for v in schema.values():
            strict(v)
    elif isinstance(schema, list):
        for v in schema:
            strict(v)
    return schema


def validate_keda(obj):
    assert obj["apiVersion"] == "keda.sh/v1alpha1"
    jsonschema.validate(obj, keda_schema())


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = {}
    for s in SPECS:
        d = tmp_path_factory.mktemp(s)
        deploy(d, spec_path(s), "--registry", "registry.example:5000/team")
        out[s] = (d, objects(d))
    return out


def load_spec(name):
    with open(spec_path(name)) as f:
        return yaml.safe_load(f)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_objects_validate_against_kubernetes_schemas(rendered, spec, version):
    d, objs = rendered[spec]
    checked = 0
    for kind, obj in objs.items():
        if kind == "ScaledObject":
            validate_keda(obj)
        else:
            kubernetes_validate.validate(obj, version, strict=True)
        checked += 1
    assert checked >= 3


EXAMPLES = sorted(os.path.join("examples", "functions", f)
                  for f in os.listdir(os.path.join(ROOT, "examples", "functions"))
                  if f.endswith(".yaml"))


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_example_deploys_as_written(tmp_path, example):
    """The examples `sluice run` runs locally deploy unchanged, and their
    objects validate; the pod's copy differs from the file only in hosts."""
    r = deploy(tmp_path, os.path.join(ROOT, example), "--no-probe")
    objs = objects(tmp_path)
    for kind, obj in objs.items():
        if kind == "ScaledObject":
            validate_keda(obj)
        else:
            kubernetes_validate.validate(obj, K8S_VERSIONS[-1], strict=True)
    original = yaml.safe_load(open(os.path.join(ROOT, example)))
    pod = yaml.safe_load(objs["ConfigMap"]["data"]["function.yaml"])
    if "listen address 0.0.0.0" not in r.stdout:
        assert pod == original


def test_validators_reject_broken_objects(rendered):
    """The validators are live: a wrong type or an unknown field fails."""
    _, objs = rendered["http_only"]
    bad = copy.deepcopy(objs["Deployment"])
    bad["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSIONS[-1], strict=True)
    bad = copy.deepcopy(objs["Deployment"])
    bad["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSIONS[-1], strict=True)
    _, kobjs = rendered["kafka_gpu"]
    so = copy.deepcopy(kobjs["ScaledObject"])
    so["spec"]["maxReplicaCount"] = "12"
    with pytest.raises(jsonschema.ValidationError):
        validate_keda(so)
    so = copy.deepcopy(kobjs["ScaledObject"])
    so["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 5
    with pytest.raises(jsonschema.ValidationError):
        validate_keda(so)
    so = copy.deepcopy(kobjs["ScaledObject"])
    so["spec"]["maxReplicas"] = 3
    with pytest.raises(jsonschema.ValidationError):
        validate_keda(so)


def test_configmap_holds_the_spec_byte_for_byte(rendered):
    for s in SPECS:
        _, objs = rendered[s]
        with open(spec_path(s)) as f:
            assert objs["ConfigMap"]["data"]["function.yaml"] == f.read()


def test_http_function(rendered):
    d, objs = rendered["http_only"]
    spec = load_spec("http_only")
    assert set(objs) == {"ConfigMap", "Deployment", "Service",
                         "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    dep = objs["Deployment"]
    for o in objs.values():
        assert o["metadata"]["namespace"] == "analytics"
        assert o["metadata"]["name"] == "weblogs"
        assert o["metadata"]["labels"]["sluice.dev/function"] == "weblogs"
        assert o["metadata"]["labels"]["team"] == "data-platform"
    assert dep["metadata"]["annotations"] == spec["metadata"]["annotations"]
    assert dep["spec"]["replicas"] == spec["spec"]["minReplicas"] == 2
    sel = dep["spec"]["selector"]["matchLabels"]
    assert all(dep["spec"]["template"]["metadata"]["labels"][k] == v
               for k, v in sel.items())
    c = container(objs)
    assert c["image"].startswith("registry.example:5000/team/weblogs:")
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/live", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    want = spec["spec"]["resources"]
    assert c["resources"] == {"requests": want["requests"], "limits": want["limits"]}
    # preStop 5 s + drainTimeout 20 s + 5 s margin
    pod = dep["spec"]["template"]["spec"]
    assert c["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    assert pod["terminationGracePeriodSeconds"] == 5 + 20 + 5
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert {"name": "SLUICE_HOST", "value": "0.0.0.0"} in c["env"]
    svc = objs["Service"]["spec"]
    assert svc["selector"] == sel
    assert svc["ports"] == [{"name": "http", "port": 8080, "targetPort": "http",
                             "protocol": "TCP"}]
    hpa = objs["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": "weblogs"}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    (m,) = hpa["metrics"]
    assert m["resource"]["name"] == "cpu"
    assert m["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    pdb = objs["PodDisruptionBudget"]["spec"]
    assert pdb["selector"]["matchLabels"] == sel and pdb["maxUnavailable"] == 1
    ann = dep["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/port"] == "8080"
    assert ann["prometheus.io/path"] == "/metrics"


def test_kafka_gpu_function(rendered):
    d, objs = rendered["kafka_gpu"]
    spec = load_spec("kafka_gpu")
    assert set(objs) == {"ConfigMap", "Deployment", "ScaledObject",
                         "PodDisruptionBudget"}
    c = container(objs)
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert c["resources"]["requests"] == {"cpu": "2", "memory": "4Gi"}
    assert c["ports"] == [{"name": "admin", "containerPort": 9090, "protocol": "TCP"}]
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "admin"}
    pod = objs["Deployment"]["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 5 + 45 + 5
    vols = {v["name"]: v for v in pod["volumes"]}
    assert vols["data"]["persistentVolumeClaim"] == {"claimName": "rollup-data"}
    assert {"name": "data", "mountPath": "/data"} in c["volumeMounts"]
    so = objs["ScaledObject"]["spec"]
    assert so["scaleTargetRef"]["name"] == "metrics-rollup"
    assert (so["minReplicaCount"], so["maxReplicaCount"]) == (1, 12)
    kafka = [t for t in so["triggers"] if t["type"] == "kafka"]
    attrs = spec["spec"]["triggers"]["logs"]["attributes"]
    assert [t["metadata"]["topic"] for t in kafka] == attrs["topics"]
    for t in kafka:
        md = t["metadata"]
        assert md["bootstrapServers"] == ",".join(attrs["brokers"])
        assert md["consumerGroup"] == attrs["consumerGroup"]
        assert md["offsetResetPolicy"] == "earliest"
        assert md["allowIdleConsumers"] == "false"
        # flush interval = maxWait 2 s + rollInterval 30 s = 32 s;
        # lagThreshold = 2 x 10000 records/s x 32 s
        assert md["lagThreshold"] == str(2 * 10000 * 32)
    (cpu,) = [t for t in so["triggers"] if t["type"] == "cpu"]
    assert cpu["metadata"] == {"value": "70"} and cpu["metricType"] == "Utilization"
    with open(os.path.join(d, "k8s", "30-scaledobject.yaml")) as f:
        text = f.read()
    assert "flush interval 32000 ms" in text and "--partitions" in text


def test_kafka_replicas_capped_at_partitions(tmp_path):
    deploy(tmp_path, spec_path("kafka_gpu"), "--partitions", "4",
           "--target-rate", "2500")
    so = objects(tmp_path)["ScaledObject"]
    validate_keda(so)
    assert so["spec"]["maxReplicaCount"] == 4
    lag = {t["metadata"]["lagThreshold"] for t in so["spec"]["triggers"]
           if t["type"] == "kafka"}
    assert lag == {str(2 * 2500 * 32)}
    deploy(tmp_path / "b", spec_path("kafka_gpu"), "--lag-threshold", "777")
    so = objects(tmp_path / "b")["ScaledObject"]
    assert {t["metadata"].get("lagThreshold") for t in so["spec"]["triggers"]} == {"777", None}


def test_volumes_and_env_function(rendered):
    _, objs = rendered["volumes_env"]
    spec = load_spec("volumes_env")
    assert set(objs) == {"ConfigMap", "Deployment", "PodDisruptionBudget"}
    c = container(objs)
    env = [e for e in c["env"] if not e["name"].startswith("SLUICE_")]
    assert env == spec["spec"]["env"]
    pod = objs["Deployment"]["spec"]["template"]["spec"]
    want_vols = [v["volume"] for v in spec["spec"]["volumes"]]
    want_mounts = [v["volumeMount"] for v in spec["spec"]["volumes"]]
    assert pod["volumes"][1:] == want_vols
    assert c["volumeMounts"][1:] == want_mounts
    assert pod["volumes"][0] == {"name": "sluice-spec",
                                 "configMap": {"name": "file-batch"}}
    assert c["volumeMounts"][0]["mountPath"] == "/etc/sluice"
    # defaultMode 0444 stays the number YAML 1.1 reads (octal 292)
    assert pod["volumes"][3]["configMap"]["defaultMode"] == 0o444
    # no http trigger: health on the admin server's default port 8081
    assert c["ports"] == [{"name": "admin", "containerPort": 8081, "protocol": "TCP"}]
    assert objs["Deployment"]["metadata"]["namespace"] == "default"
    assert objs["Deployment"]["spec"]["replicas"] == 1


def test_namespace_flag_and_image_flag(tmp_path):
    deploy(tmp_path, spec_path("http_only"), "--namespace", "prod",
           "--image", "ghcr.io/acme/weblogs:v7")
    objs = objects(tmp_path)
    assert {o["metadata"]["namespace"] for o in objs.values()} == {"prod"}
    assert container(objs)["image"] == "ghcr.io/acme/weblogs:v7"


def test_image_tag_follows_the_spec(tmp_path):
    a = container(objects(deploy(tmp_path / "a", spec_path("http_only")) and tmp_path / "a"))
    b = container(objects(deploy(tmp_path / "b", spec_path("http_only")) and tmp_path / "b"))
    assert a["image"] == b["image"]
    changed = tmp_path / "changed.yaml"
    changed.write_text(open(spec_path("http_only")).read().replace("maxReplicas: 6",
                                                                    "maxReplicas: 7"))
    c = container(objects(deploy(tmp_path / "c", str(changed)) and tmp_path / "c"))
    assert c["image"] != a["image"] and c["image"].startswith("weblogs:")


def test_awkward_strings_are_quoted(tmp_path):
    """Labels, annotations and env values that YAML would misread (on, no,
    "quotes", colons, newlines) come back as the same strings."""
    spec = tmp_path / "f.yaml"
    spec.write_text(
        "metadata:\n  name: odd\n  labels: {flag: 'on', n: 'no'}\n"
        "  annotations: {note: \"a: b # c\\n'd' \\\"e\\\"\", 'yes': '~'}\n"
        "spec:\n  runtime: passthrough\n"
        "  env: {A: 'off', B: '0x1F', C: '-', D: ' lead', E: \"tab\\there\"}\n"
        "  triggers:\n    web: {kind: http, attributes: {host: 0.0.0.0, port: 80}}\n")
    deploy(tmp_path / "o", str(spec))
    objs = objects(tmp_path / "o")
    for o in objs.values():
        kubernetes_validate.validate(o, K8S_VERSIONS[-1], strict=True)
    dep = objs["Deployment"]
    assert dep["metadata"]["labels"]["flag"] == "on"
    assert dep["metadata"]["labels"]["n"] == "no"
    assert dep["metadata"]["annotations"] == {"note": "a: b # c\n'd' \"e\"", "yes": "~"}
    env = {e["name"]: e.get("value") for e in container(objs)["env"]}
    assert env["A"] == "off" and env["B"] == "0x1F" and env["C"] == "-"
    assert env["D"] == " lead" and env["E"] == "tab\there"
    # the spec keeps its own text even when a literal block cannot hold it
    assert objs["ConfigMap"]["data"]["function.yaml"] == spec.read_text()


def test_crlf_spec_survives_the_configmap(tmp_path):
    """A spec saved with CRLF line ends cannot be a literal block: it is
    written double-quoted and still comes back byte for byte."""
    text = open(spec_path("http_only")).read().replace("\n", "\r\n")
    spec = tmp_path / "crlf.yaml"
    spec.write_bytes(text.encode())
    deploy(tmp_path / "o", str(spec))
    objs = objects(tmp_path / "o")
    kubernetes_validate.validate(objs["ConfigMap"], K8S_VERSIONS[-1], strict=True)
    assert objs["ConfigMap"]["data"]["function.yaml"] == text
