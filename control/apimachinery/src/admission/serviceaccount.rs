//! The ServiceAccount admission plugin's mutation on pod create: unless the pod (or its
//! account) opts out with `automountServiceAccountToken: false`, a projected volume
//! `kube-api-access-<suffix>` holding a bound service account token, the cluster CA and the
//! namespace is added and mounted read-only at [`MOUNT_PATH`] in every container that does not
//! already mount something there, exactly as kube-apiserver shapes it.

use serde_json::{json, Value};

use super::json::{arr_of, each_mut, str_of};

/// Where in-cluster clients (client-go's `rest.InClusterConfig`) look for the token.
pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// What the injected token asks for; the server extends it (see the TokenRequest handler).
pub const TOKEN_EXPIRATION_SECONDS: i64 = 3607;

/// Adds the volume and mounts to a pod spec; returns the volume name, or None when nothing
/// was added. `account_automount` is the ServiceAccount's own setting, if it has one.
pub fn mount_api_access(
    spec: &mut Value,
    account_automount: Option<bool>,
    suffix: &str,
) -> Option<String> {
    let automount = spec["automountServiceAccountToken"]
        .as_bool()
        .or(account_automount)
        .unwrap_or(true);
    if !automount {
        return None;
    }
    let mounted_there = |c: &Value| {
        arr_of(c, "volumeMounts")
            .iter()
            .any(|m| str_of(m, "mountPath") == MOUNT_PATH)
    };
    let lists = ["initContainers", "containers", "ephemeralContainers"];
    let wanting = lists
        .iter()
        .flat_map(|l| arr_of(spec, l))
        .filter(|c| !mounted_there(c))
        .count();
    if wanting == 0 {
        return None;
    }
    let name = format!("kube-api-access-{suffix}");
    let volume = json!({
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace",
                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        },
    });
    match spec["volumes"].as_array_mut() {
        Some(v) => v.push(volume),
        None => spec["volumes"] = json!([volume]),
    }
    for list in lists {
        for c in each_mut(spec, list) {
            if mounted_there(c) {
                continue;
            }
            let m = json!({"name": name, "readOnly": true, "mountPath": MOUNT_PATH});
            match c["volumeMounts"].as_array_mut() {
                Some(v) => v.push(m),
                None => c["volumeMounts"] = json!([m]),
            }
        }
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Value {
        json!({"serviceAccountName": "default",
               "initContainers": [{"name": "i", "image": "x"}],
               "containers": [{"name": "a", "image": "x"},
                              {"name": "b", "image": "x", "volumeMounts": [{"name": "own", "mountPath": MOUNT_PATH}]}],
               "volumes": [{"name": "own", "emptyDir": {}}]})
    }

    #[test]
    fn every_container_without_its_own_mount_gets_the_api_access_volume() {
        let mut s = spec();
        assert_eq!(
            mount_api_access(&mut s, None, "x7k2p").as_deref(),
            Some("kube-api-access-x7k2p")
        );
        assert_eq!(s["volumes"][1]["name"], "kube-api-access-x7k2p");
        assert_eq!(
            s["volumes"][1]["projected"]["sources"][0]["serviceAccountToken"]["path"],
            "token"
        );
        assert_eq!(
            s["initContainers"][0]["volumeMounts"][0]["mountPath"],
            MOUNT_PATH
        );
        assert_eq!(s["containers"][0]["volumeMounts"][0]["readOnly"], true);
        // b mounts its own volume there and is left alone.
        assert_eq!(
            s["containers"][1]["volumeMounts"].as_array().unwrap().len(),
            1
        );
    }

    #[test]
    fn the_pod_or_its_account_may_opt_out_and_the_pod_wins() {
        let mut s = spec();
        s["automountServiceAccountToken"] = json!(false);
        assert_eq!(mount_api_access(&mut s, Some(true), "a"), None);
        let mut s = spec();
        assert_eq!(mount_api_access(&mut s, Some(false), "a"), None);
        let mut s = spec();
        s["automountServiceAccountToken"] = json!(true);
        assert!(mount_api_access(&mut s, Some(false), "a").is_some());
    }
}
