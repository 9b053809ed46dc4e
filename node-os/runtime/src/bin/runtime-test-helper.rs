//! A stand-in for the node's executable in this crate's tests: it does exactly what the
//! node's `main` does first (hand over to the runtime helper), so integration tests can
//! re-execute it as the helper. It is not shipped: the node image carries only `node-os`.

fn main() {
    node_runtime::run_if_helper();
    eprintln!(
        "runtime-test-helper: only useful as `{} <verb>`",
        node_runtime::HELPER_ARG
    );
    std::process::exit(2);
}
