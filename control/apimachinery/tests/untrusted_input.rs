use control_apimachinery::admission::*;
use control_apimachinery::patch::*;
use control_apimachinery::resources::*;
use serde_json::json;
use std::time::Instant;

fn catch<R>(f: impl FnOnce() -> R + std::panic::UnwindSafe) -> Result<R, String> {
    std::panic::catch_unwind(f).map_err(|e| {
        e.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| e.downcast_ref::<String>().cloned())
            .unwrap_or_default()
    })
}

#[test]
fn scratch() {
    // json-patch undo
    let orig = json!({"metadata":{"name":"x","labels":{"a":"b"}}});
    let p = br#"[{"op":"move","from":"/metadata/labels","path":"/metadata"},{"op":"test","path":"/nope","value":1}]"#;
    println!(
        "move undo: {:?}",
        catch(|| apply_patch("io.k8s.api.core.v1.Pod", &orig, PatchType::Json, p))
    );
    // quantity overflow
    let pods = by_kind("v1", "Pod").unwrap();
    for q in [
        "1e2147483647",
        "1e-2147483648",
        "1.5e-2147483647",
        "1e2000000000",
    ] {
        let body = json!({"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"b","resources":{"limits":{"cpu":q}}}]}});
        let t = Instant::now();
        println!(
            "quantity {q}: {:?} {:?}",
            catch(|| decode(pods, &body).map(|_| ())),
            t.elapsed()
        );
    }
    // copy doubling
    let mut ops = vec![];
    for _ in 0..18 {
        ops.push(json!({"op":"copy","from":"/metadata","path":"/metadata/x"}));
    }
    let p = serde_json::to_vec(&ops).unwrap();
    let t = Instant::now();
    let out = apply_patch("io.k8s.api.core.v1.Pod", &orig, PatchType::Json, &p).unwrap();
    println!(
        "copy: patch {} bytes -> result {} bytes in {:?}",
        p.len(),
        serde_json::to_vec(&out).unwrap().len(),
        t.elapsed()
    );
}
