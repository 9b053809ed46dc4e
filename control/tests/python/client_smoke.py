"""The official Python Kubernetes client against a served control plane: a second real client.

Usage: client_smoke.py KUBECONFIG. Prints one line per check and exits non-zero on the first
failure.
"""
import sys

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException


def main(kubeconfig):
    config.load_kube_config(config_file=kubeconfig)
    core = client.CoreV1Api()
    apps = client.AppsV1Api()

    names = {ns.metadata.name for ns in core.list_namespace().items}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names, names
    print("ok list namespaces")

    cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py", labels={"from": "python"}), data={"a": "1"})
    created = core.create_namespaced_config_map("default", cm)
    assert created.metadata.uid and created.metadata.resource_version
    print("ok create configmap")

    try:
        core.create_namespaced_config_map("default", cm)
        raise AssertionError("duplicate create succeeded")
    except ApiException as e:
        assert e.status == 409, e.status
    print("ok 409 on duplicate")

    patched = core.patch_namespaced_config_map("py", "default", {"data": {"b": "2"}})
    assert patched.data == {"a": "1", "b": "2"}, patched.data
    print("ok patch")

    listed = core.list_namespaced_config_map("default", label_selector="from=python")
    assert [i.metadata.name for i in listed.items] == ["py"]
    print("ok list with selector")

    dep = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="pyweb"),
        spec=client.V1DeploymentSpec(
            replicas=2,
            selector=client.V1LabelSelector(match_labels={"app": "pyweb"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "pyweb"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="nginx")]),
            ),
        ),
    )
    apps.create_namespaced_deployment("default", dep)
    scale = apps.patch_namespaced_deployment_scale("pyweb", "default", {"spec": {"replicas": 4}})
    assert scale.spec.replicas == 4
    print("ok deployment scale")

    w = watch.Watch()
    rv = listed.metadata.resource_version
    core.delete_namespaced_config_map("py", "default")
    events = []
    for ev in w.stream(core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=5):
        events.append((ev["type"], ev["object"].metadata.name))
        if ev["type"] == "DELETED":
            w.stop()
    assert ("DELETED", "py") in events, events
    print("ok watch")

    try:
        core.read_namespaced_config_map("py", "default")
        raise AssertionError("deleted configmap still readable")
    except ApiException as e:
        assert e.status == 404
    print("ok 404 after delete")


if __name__ == "__main__":
    main(sys.argv[1])
