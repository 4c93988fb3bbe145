"""deploy/k8s/: plain manifests, parsed with PyYAML and held to the code like docker-compose.yml.

Every Deployment has readiness and liveness probes on what its process really serves, Services
select existing Deployments and reach a declared container port, HPAs scale existing Deployments,
every secretKeyRef names a key of secrets.example.yaml, and each container's command, ports and
environment agree with the code (tests/deploy_consistency.py; secrets resolve to the example's
placeholders). No cluster is needed: nothing here is applied.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.contracts_support import CONTRACTS_RECORD
from tests.deploy_consistency import (
    HEALTH_VIEWS,
    ROOT,
    Probe,
    Process,
    Stack,
    exec_probe,
    image,
    is_django,
    listening,
    process_problems,
    stack_problems,
)

# db_independent: manifests, read statically; the PostgreSQL pass skips it.
pytestmark = pytest.mark.db_independent

K8S = ROOT / "deploy" / "k8s"
EXAMPLE = K8S / "secrets.example.yaml"
PART_OF = "app.kubernetes.io/part-of"
WORKLOADS = ("Deployment", "Job")
# ConfigMaps the operator builds (README.md says how), by the repository folder whose files they hold:
# strangler-contracts holds the pact files (and the record `make contracts` writes beside them).
OPERATOR_CONFIGMAPS = {"strangler-contracts": ROOT / "contracts" / "pacts"}


def _docs() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [dict(d, _file=path.name) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


DOCS = _docs()


def _named(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in DOCS if d["kind"] == kind}


def _container(workload: dict) -> dict:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, workload["metadata"]["name"]
    return containers[0]


def _secret() -> dict:
    (secret,) = [d for d in DOCS if d["_file"] == EXAMPLE.name]
    return secret


def _env(container: dict) -> dict[str, str]:
    """The container's environment, with ConfigMaps and the example Secret's placeholders."""
    configmaps, secret = _named("ConfigMap"), _secret()
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(configmaps[source["configMapRef"]["name"]]["data"])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"], item
        assert ref["key"] in secret["stringData"], f"{item['name']}: no key {ref['key']} in {EXAMPLE.name}"
        env[item["name"]] = secret["stringData"][ref["key"]]
    return env


def _port(container: dict, port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    return number


def _probes(container: dict) -> list[Probe]:
    probes = []
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        spec = container.get(kind)
        if spec and "httpGet" in spec:
            get = spec["httpGet"]
            host = next((h["value"] for h in get.get("httpHeaders", []) if h["name"].lower() == "host"), None)
            probes.append(Probe(kind, [], _port(container, get["port"]), get["path"], host))
        elif spec:
            probes.append(exec_probe(kind, spec["exec"]["command"]))
    return probes


def _files(workload: dict, container: dict, scratch: Path) -> dict[str, Path]:
    """Files the container sees from ConfigMap volumes, written out for the checks to read; a
    ConfigMap the operator builds is the repository folder README.md builds it from."""
    volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"].get("volumes", [])}
    files = {}
    for mount in container.get("volumeMounts", []):
        source = volumes[mount["name"]].get("configMap")
        if source and source["name"] in OPERATOR_CONFIGMAPS:
            # Not shipped: a pod must start without it (the gate then refuses flips to the service).
            assert source.get("optional") is True, f"{source['name']}: must be optional"
            files[mount["mountPath"]] = OPERATOR_CONFIGMAPS[source["name"]]
        elif source:
            data = _named("ConfigMap")[source["name"]]["data"]
            for item in source.get("items") or [{"key": k, "path": k} for k in data]:
                path = scratch / source["name"] / item["path"]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(data[item["key"]])
                if "subPath" not in mount:
                    files[f"{mount['mountPath']}/{item['path']}"] = path
                elif mount["subPath"] == item["path"]:  # one file of the volume, mounted as that path
                    files[mount["mountPath"]] = path
    return files


def _processes(scratch: Path) -> list[Process]:
    procs = []
    for doc in DOCS:
        if doc["kind"] not in WORKLOADS:
            continue
        container = _container(doc)
        img = image(container["image"].split("/")[-1].split(":")[0])
        procs.append(Process(
            name=doc["metadata"]["name"], image=img,
            command=(container.get("command", []) + container.get("args", [])) or img.cmd,
            env=_env(container),
            ports={p["containerPort"] for p in container.get("ports", [])}, probes=_probes(container),
            one_shot=doc["kind"] == "Job", files=_files(doc, container, scratch)))
    return procs


def _selected(service: dict) -> list[dict]:
    selector = service["spec"]["selector"].items()
    deployments = _named("Deployment").values()
    return [d for d in deployments if selector <= d["spec"]["template"]["metadata"]["labels"].items()]


def test_manifests_are_plain_labelled_and_the_secret_is_an_example() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in DOCS}
    assert {n for k, n in kinds if k == "Deployment"} == {
        "strangler", "monolith", "monolith-worker", "monolith-beat", "monolith-relay",
        "payments", "payments-worker", "payments-beat", "payments-relay",
        "catalog", "catalog-worker", "catalog-beat", "catalog-relay"}
    assert {n for k, n in kinds if k == "HorizontalPodAutoscaler"} == {"strangler", "payments", "catalog"}
    assert {n for k, n in kinds if k == "Job"} == {"monolith-migrate", "payments-migrate", "catalog-migrate"}
    assert not list(K8S.glob("kustomization.*"))
    for doc in DOCS:
        labelled = PART_OF in doc["metadata"].get("labels", {})
        assert labelled == (doc["_file"] != EXAMPLE.name), doc["metadata"]["name"]
    secret = _secret()
    assert secret["kind"] == "Secret" and "EXAMPLE ONLY" in EXAMPLE.read_text()
    assert all(v == "" or "CHANGE-ME" in v for v in secret["stringData"].values())


def test_every_deployment_has_real_readiness_and_liveness_probes() -> None:
    for name, deployment in _named("Deployment").items():
        container = _container(deployment)
        assert container.get("readinessProbe") and container.get("livenessProbe"), name
        ports = {p["containerPort"] for p in container.get("ports", [])}
        for kind, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            (probe,) = [p for p in _probes(container) if p.kind == kind]
            if name == "strangler":  # the admin API: its only health endpoint is /healthz
                assert (probe.port, probe.path) == (8100, "/healthz") and probe.port in ports
            elif ports:  # a Django web process: the kernel's views, on the container's port
                assert (probe.path, probe.port in ports) == (path, True), (name, kind)
            else:  # worker, beat, relay: no port; the probe runs the kernel's checks or pings
                assert probe.command and probe.port is None, (name, kind)


def test_services_select_deployments_and_reach_their_ports() -> None:
    for name, service in _named("Service").items():
        (deployment,) = _selected(service)
        container = _container(deployment)
        for port in service["spec"]["ports"]:
            declared = {p["containerPort"] for p in container["ports"]}
            assert _port(container, port["targetPort"]) in declared, name


def test_hpas_scale_existing_deployments_with_cpu_requests() -> None:
    for name, hpa in _named("HorizontalPodAutoscaler").items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment" and target["name"] in _named("Deployment"), name
        assert _container(_named("Deployment")[target["name"]])["resources"]["requests"]["cpu"]
        assert 1 < hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_containers_are_bounded_and_unprivileged() -> None:
    for doc in DOCS:
        if doc["kind"] in WORKLOADS:
            pod = doc["spec"]["template"]["spec"]
            container = _container(doc)
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), doc["metadata"]["name"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_every_container_agrees_with_the_code(tmp_path: Path) -> None:
    procs = _processes(tmp_path / "files")
    by_name = {p.name: p for p in procs}

    def endpoint(host: str, port: int) -> Process | None:
        service = _named("Service").get(host)
        for spec in service["spec"]["ports"] if service else []:
            (deployment,) = _selected(service)
            proc = by_name[deployment["metadata"]["name"]]
            if spec["port"] == port and _port(_container(deployment), spec["targetPort"]) in listening(proc):
                return proc
        return None

    stack = Stack(procs, tmp_path, endpoint=endpoint)
    stack.gather()
    problems = [p for proc in procs for p in process_problems(stack, proc)] + stack_problems(stack)
    assert problems == []
    web = [p for p in procs if is_django(p) and p.ports]
    assert {stack.facts[p.name]["views"][pr.path] for p in web for pr in p.probes} == HEALTH_VIEWS


@pytest.mark.parametrize("name", ["monolith", "payments", "catalog"])
def test_migrations_are_jobs_of_the_same_image_and_settings(name: str, tmp_path: Path) -> None:
    procs = {p.name: p for p in _processes(tmp_path)}
    job, web = procs[f"{name}-migrate"], procs[name]
    assert job.command == ["python", "manage.py", "migrate", "--noinput"]
    assert (job.image, job.env) == (web.image, web.env)


def test_route_table_routes_like_compose_and_make_run(tmp_path: Path) -> None:
    """Only hosts, listen addresses and the store differ between the three route tables."""
    from strangler.proxy.config import load_config

    table = tmp_path / "routes.toml"
    table.write_text(_named("ConfigMap")["strangler-routes"]["data"]["routes.toml"])
    tables = [load_config(path, env={}) for path in (table, ROOT / "deploy" / "compose" / "routes.toml",
                                                     ROOT / "deploy" / "local" / "routes.toml")]
    assert tables[0].table.routes == tables[1].table.routes == tables[2].table.routes
    for config in tables[:2]:  # containers listen where `make run` does; targets are Services by name
        assert (config.listen_port, config.admin_port) == (tables[2].listen_port, tables[2].admin_port)
        assert {n: (t.host, t.port) for n, t in config.table.targets.items()} == {
            n: (n, t.port) for n, t in tables[2].table.targets.items()}


def test_the_admin_port_takes_connections_only_from_labelled_pods() -> None:
    [policy] = _named("NetworkPolicy").values()
    [proxy] = _selected({"spec": {"selector": policy["spec"]["podSelector"]["matchLabels"]}})
    assert proxy["metadata"]["name"] == "strangler" and policy["spec"]["policyTypes"] == ["Ingress"]
    container = _container(proxy)
    rules = {_port(container, rule["ports"][0]["port"]): rule.get("from") for rule in policy["spec"]["ingress"]}
    admin, client = _port(container, "admin"), _port(container, "http")
    assert set(rules) == {admin, client}
    assert rules[client] is None  # the client port: from anywhere (the Ingress)
    assert rules[admin] == [{"podSelector": {"matchLabels": {"strangler-kit/admin-client": "true"}}}]
    # and the proxy's own Service does not carry the admin port
    assert [p["port"] for p in _named("Service")["strangler"]["spec"]["ports"]] == [client]


def test_the_operator_s_configmaps_are_built_as_the_readme_says() -> None:
    """README.md's `kubectl create configmap` line for each ConfigMap the manifests mount but do not
    ship: from the folder the checks read it as, and from the record `make contracts` writes."""
    readme = (K8S / "README.md").read_text().replace("\\\n", " ")
    for name, folder in OPERATOR_CONFIGMAPS.items():
        (line,) = [ln for ln in readme.splitlines() if f"kubectl create configmap {name} " in ln]
        sources = [ROOT / arg.split("=", 1)[1] for arg in line.split() if arg.startswith("--from-file=")]
        assert folder in sources, line
        assert CONTRACTS_RECORD in sources, line


@pytest.mark.parametrize(("fmt", "name"), [("gateway", "strangler-httproute.yaml"), ("nginx", "nginx.conf")])
def test_the_exported_examples_are_the_compose_tables_plan(fmt: str, name: str) -> None:
    """deploy/k8s/exported/ is `strangler export --from-file` of the compose route table as it is now
    (every route, catalog's included): regenerate it when the table changes."""
    from strangler.export.gateway import httproute_export, to_yaml
    from strangler.export.nginx import nginx_export
    from strangler.proxy.config import load_config

    table = load_config(ROOT / "deploy" / "compose" / "routes.toml", env={}).table
    states = {r.name: r.state for r in table.routes}
    source = "deploy/compose/routes.toml, initial states"
    text = (to_yaml(httproute_export(table, states, namespace=None, gateway="gateway", source=source))
            if fmt == "gateway" else nginx_export(table, states, source=source))
    assert (K8S / "exported" / name).read_text() == text, (
        f"regenerate: strangler --config deploy/compose/routes.toml export --format {fmt} --from-file "
        f"--out deploy/k8s/exported/{name}")
    assert "/api/v1/products" in text and "/api/v1/payments" in text
