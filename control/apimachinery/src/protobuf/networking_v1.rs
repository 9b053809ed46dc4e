//! networking.k8s.io/v1 Ingress, which `kubectl create ingress` sends. `status` is not read
//! (see core_v1).

use k8s_pb::api::networking::v1::{
    HttpIngressPath, HttpIngressRuleValue, Ingress, IngressBackend, IngressRule, IngressRuleValue,
    IngressServiceBackend, IngressSpec, IngressTls, ServiceBackendPort,
};

use super::json::{Json, Obj};
use super::meta_v1::object_meta;
use super::pod::typed_local_object_reference;

pub(super) fn ingress(i: &Ingress) -> Json {
    Obj::new()
        .obj("metadata", i.metadata.as_ref(), object_meta)
        .obj("spec", i.spec.as_ref(), ingress_spec)
        .finish()
}

fn ingress_spec(s: &IngressSpec) -> Json {
    Obj::new()
        .str_ptr("ingressClassName", &s.ingress_class_name)
        .obj(
            "defaultBackend",
            s.default_backend.as_ref(),
            ingress_backend,
        )
        .list("tls", &s.tls, ingress_tls)
        .list("rules", &s.rules, ingress_rule)
        .finish()
}

fn ingress_tls(t: &IngressTls) -> Json {
    Obj::new()
        .strs("hosts", &t.hosts)
        .str("secretName", &t.secret_name)
        .finish()
}

fn ingress_rule(r: &IngressRule) -> Json {
    Obj::new()
        .str("host", &r.host)
        .inline(r.ingress_rule_value.as_ref(), ingress_rule_value)
        .finish()
}

fn ingress_rule_value(v: &IngressRuleValue) -> Json {
    Obj::new()
        .obj("http", v.http.as_ref(), http_ingress_rule_value)
        .finish()
}

fn http_ingress_rule_value(v: &HttpIngressRuleValue) -> Json {
    Obj::new()
        .list_req("paths", &v.paths, http_ingress_path)
        .finish()
}

fn http_ingress_path(p: &HttpIngressPath) -> Json {
    Obj::new()
        .str("path", &p.path)
        .str_ptr("pathType", &p.path_type)
        .obj("backend", p.backend.as_ref(), ingress_backend)
        .finish()
}

fn ingress_backend(b: &IngressBackend) -> Json {
    Obj::new()
        .obj("service", b.service.as_ref(), ingress_service_backend)
        .obj(
            "resource",
            b.resource.as_ref(),
            typed_local_object_reference,
        )
        .finish()
}

fn ingress_service_backend(b: &IngressServiceBackend) -> Json {
    Obj::new()
        .str_req("name", &b.name)
        .obj("port", b.port.as_ref(), service_backend_port)
        .finish()
}

fn service_backend_port(p: &ServiceBackendPort) -> Json {
    Obj::new()
        .str("name", &p.name)
        .int("number", p.number)
        .finish()
}
