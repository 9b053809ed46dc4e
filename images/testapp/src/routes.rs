//! What each path of `serve` answers. Pure: the server hands in what it knows about the pod
//! and whether health is failing, and applies the [`Effect`] it gets back.

use crate::http::{Request, Response};

/// What the pod looks like from inside, gathered once at start (none of it changes while the
/// process lives).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    pub hostname: String,
    pub pod_ip: String,
    /// The environment, sorted by name.
    pub env: Vec<(String, String)>,
}

/// A change of the server's state a request asks for, applied after the response is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    None,
    /// `/healthz` answers 500 from now on.
    Fail,
    /// `/healthz` answers 200 again.
    Recover,
    /// The process exits with this status.
    Exit(i32),
}

pub fn route(request: &Request, facts: &Facts, failing: bool) -> (Response, Effect) {
    let method = request.method.as_str();
    let readonly = matches!(method, "GET" | "HEAD");
    let path = request.path.as_str();
    let post_allowed = method == "POST" && matches!(path, "/fail" | "/recover" | "/exit");
    if !(readonly || post_allowed) {
        return (
            Response::text(405, format!("{method} not allowed on {path}\n")),
            Effect::None,
        );
    }
    let ok = |body: String| (Response::text(200, body), Effect::None);
    match path {
        "/" => ok(format!(
            "hostname={}\npod_ip={}\n{}",
            facts.hostname,
            facts.pod_ip,
            env_lines(&facts.env)
        )),
        "/env" => ok(env_lines(&facts.env)),
        "/hostname" => ok(format!("{}\n", facts.hostname)),
        "/healthz" if failing => (Response::text(500, "failing"), Effect::None),
        "/healthz" => ok("ok".into()),
        "/fail" => (
            Response::text(200, "/healthz fails from now on\n"),
            Effect::Fail,
        ),
        "/recover" => (
            Response::text(200, "/healthz is ok again\n"),
            Effect::Recover,
        ),
        "/echo" => ok(request.query_param("msg").unwrap_or_default()),
        "/exit" => match request
            .query_param("code")
            .as_deref()
            .unwrap_or("0")
            .parse()
        {
            Ok(code) => (
                Response::text(200, format!("exiting with status {code}\n")),
                Effect::Exit(code),
            ),
            Err(_) => (
                Response::text(400, "code must be an integer\n"),
                Effect::None,
            ),
        },
        _ => (
            Response::text(404, format!("not found: {path}\n")),
            Effect::None,
        ),
    }
}

/// `NAME=value` lines, in the (sorted) order given.
pub fn env_lines(env: &[(String, String)]) -> String {
    env.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_head;

    fn facts() -> Facts {
        Facts {
            hostname: "web-0".into(),
            pod_ip: "10.244.1.7".into(),
            env: vec![("A".into(), "1".into()), ("B".into(), "two".into())],
        }
    }

    fn get(method: &str, target: &str, failing: bool) -> (Response, Effect) {
        let head = format!("{method} {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        route(&parse_head(head.as_bytes()).unwrap(), &facts(), failing)
    }

    #[test]
    fn root_shows_hostname_pod_ip_and_the_sorted_environment() {
        let (r, e) = get("GET", "/", false);
        assert_eq!(
            (r.status, r.body.as_str(), e),
            (
                200,
                "hostname=web-0\npod_ip=10.244.1.7\nA=1\nB=two\n",
                Effect::None
            )
        );
        assert_eq!(get("GET", "/env", false).0.body, "A=1\nB=two\n");
        assert_eq!(get("HEAD", "/hostname", false).0.body, "web-0\n");
    }

    #[test]
    fn healthz_follows_fail_and_recover() {
        assert_eq!(get("GET", "/healthz", false).0, Response::text(200, "ok"));
        assert_eq!(get("GET", "/healthz", true).0.status, 500);
        assert_eq!(get("POST", "/fail", false).1, Effect::Fail);
        assert_eq!(get("GET", "/fail", false).1, Effect::Fail);
        assert_eq!(get("GET", "/recover", true).1, Effect::Recover);
    }

    #[test]
    fn echo_returns_the_decoded_message() {
        assert_eq!(
            get("GET", "/echo?msg=hello%20world", false).0.body,
            "hello world"
        );
        assert_eq!(get("GET", "/echo", false).0.body, "");
    }

    #[test]
    fn exit_takes_a_code() {
        assert_eq!(get("GET", "/exit?code=3", false).1, Effect::Exit(3));
        assert_eq!(get("POST", "/exit", false).1, Effect::Exit(0));
        assert_eq!(get("GET", "/exit?code=x", false).0.status, 400);
    }

    #[test]
    fn unknown_paths_and_writes_elsewhere_are_refused() {
        assert_eq!(get("GET", "/nope", false).0.status, 404);
        let (r, e) = get("POST", "/", false);
        assert_eq!((r.status, e), (405, Effect::None));
        assert_eq!(get("DELETE", "/fail", false).0.status, 405);
    }
}
