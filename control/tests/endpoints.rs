//! The endpoints controllers inside `control serve`, seen through kubectl: a Service's Endpoints
//! and EndpointSlices follow its pods' IPs and readiness.

mod support;

use support::{eventually, Server};

const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n  - name: http\n    port: 80\n    targetPort: http\n";

fn pod(name: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n    app: web\nspec:\n  containers:\n  - name: c\n    image: nginx\n    ports:\n    - name: http\n      containerPort: 8080\n")
}

fn set_status(s: &Server, name: &str, ip: &str, ready: bool) {
    let patch = format!(
        "{{\"status\":{{\"phase\":\"Running\",\"podIP\":\"{ip}\",\"conditions\":[{{\"type\":\"Ready\",\"status\":\"{}\"}}]}}}}",
        if ready { "True" } else { "False" }
    );
    s.kubectl(&["patch", "pod", name, "--subresource=status", "-p", &patch]);
}

#[test]
fn endpoints_follow_pod_ips_and_readiness() {
    let s = Server::start();
    s.kubectl_in(&["apply", "-f", "-"], Some(SERVICE));
    s.kubectl_in(&["apply", "-f", "-"], Some(&pod("a")));
    s.kubectl_in(&["apply", "-f", "-"], Some(&pod("b")));
    set_status(&s, "a", "10.244.0.10", true);
    set_status(&s, "b", "10.244.1.10", false);
    let ready = || {
        s.kubectl(&[
            "get",
            "endpoints",
            "web",
            "-o",
            "jsonpath={.subsets[0].addresses[*].ip}",
        ])
    };
    let not_ready = || {
        s.kubectl(&[
            "get",
            "endpoints",
            "web",
            "-o",
            "jsonpath={.subsets[0].notReadyAddresses[*].ip}",
        ])
    };
    assert!(
        eventually(20, || ready() == "10.244.0.10"
            && not_ready() == "10.244.1.10"),
        "{} / {}",
        ready(),
        not_ready()
    );
    let port = s.kubectl(&[
        "get",
        "endpoints",
        "web",
        "-o",
        "jsonpath={.subsets[0].ports[0].port}",
    ]);
    assert_eq!(
        port, "8080",
        "targetPort by name resolves to the container port"
    );

    // b becomes ready: both addresses are ready; the slice says so too.
    set_status(&s, "b", "10.244.1.10", true);
    assert!(
        eventually(20, || ready() == "10.244.0.10 10.244.1.10"),
        "{}",
        ready()
    );
    let slice_ready = || {
        s.kubectl(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=web",
            "-o",
            "jsonpath={range .items[*].endpoints[*]}{.addresses[0]}={.conditions.ready} {end}",
        ])
    };
    assert!(
        eventually(20, || slice_ready().trim()
            == "10.244.0.10=true 10.244.1.10=true"),
        "{}",
        slice_ready()
    );

    // A deleted pod leaves; a deleted Service takes its Endpoints and slices with it.
    s.kubectl(&["delete", "pod", "a"]);
    assert!(eventually(20, || ready() == "10.244.1.10"), "{}", ready());
    s.kubectl(&["delete", "service", "web"]);
    assert!(eventually(20, || {
        !s.kubectl_raw(&["get", "endpoints", "web"], None)
            .status
            .success()
            && s.kubectl(&[
                "get",
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=web",
                "-o",
                "name",
            ])
            .trim()
            .is_empty()
    }));
}
