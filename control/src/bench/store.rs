//! The revision store measured against etcd 3.4 in the same run, with the same workload:
//! 1 KiB puts from one client and from many concurrent clients, prefix ranges of 1,000 and
//! 10,000 keys, and watch delivery latency to many watchers (measured from the put being sent,
//! and from it being acknowledged).
//!
//! etcd runs as a single member on 127.0.0.1 with a data dir on the same disk as the store's and
//! its default (always-on) fsync. It is driven over its native gRPC API, spoken directly over
//! hyper's HTTP/2 client with a few hand-written protobuf messages: the same wire path the
//! `etcd-client` crate takes, without pulling tonic/prost (and a `protoc` build dependency) into
//! the appliance, and without the JSON gateway's extra in-server hop that would handicap etcd.
//!
//! Every figure is printed as `bench: <name> <value> <unit>`; ratios are "store better by" factors
//! (throughput: store / etcd; latency: etcd / store), so > 1 means the store wins.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use bytes::{Buf, Bytes, BytesMut};
use control_store::{Op, RangeEnd, RangeRequest, Store, StoreOptions, Txn};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Channel, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::{percentile, report};

#[derive(clap::Args, Debug)]
pub struct StoreBenchArgs {
    /// Puts in the concurrent-clients phase.
    #[arg(long, default_value_t = 20_000)]
    pub ops: usize,
    /// Puts in the single-client phase.
    #[arg(long, default_value_t = 2_000)]
    pub single_client_ops: usize,
    /// Value size in bytes.
    #[arg(long, default_value_t = 1024)]
    pub value_size: usize,
    /// Concurrent clients in the concurrent-clients phase.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Keys under the prefix read by the small range phase (the large one reads 10,000).
    #[arg(long, default_value_t = 1_000)]
    pub range_keys: usize,
    /// Ranges timed per range phase.
    #[arg(long, default_value_t = 100)]
    pub range_reps: usize,
    /// Concurrent watchers in the watch phase.
    #[arg(long, default_value_t = 100)]
    pub watchers: usize,
    /// Puts (one at a time) every watcher must see.
    #[arg(long, default_value_t = 300)]
    pub watch_events: usize,
    /// Directory for both data dirs (a temporary one when not given); the same disk for both.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The etcd 3.4 server binary (Debian: `apt-get install etcd-server`).
    #[arg(long, default_value = "etcd")]
    pub etcd_bin: PathBuf,
    /// HTTP/2 connections the etcd clients share (clients are spread over them).
    #[arg(long, default_value_t = 8)]
    pub etcd_conns: usize,
    /// Measure only the store.
    #[arg(long)]
    pub skip_etcd: bool,
}

const LARGE_RANGE_KEYS: usize = 10_000;

pub async fn run(args: StoreBenchArgs) -> Result<()> {
    ensure!(
        args.clients > 0 && args.etcd_conns > 0,
        "--clients and --etcd-conns must be positive"
    );
    let base = args
        .data_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("store-bench-{}", std::process::id()));
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    let result = run_in(&args, &base).await;
    let _ = std::fs::remove_dir_all(&base);
    result
}

async fn run_in(args: &StoreBenchArgs, base: &Path) -> Result<()> {
    let store_dir = base.join("store");
    let store = Store::open(
        &store_dir,
        StoreOptions {
            // Nothing to compact in a run this short; keep the timer out of the figures.
            compaction_interval: None,
            ..StoreOptions::default()
        },
    )
    .await
    .context("opening the store")?;
    let store_figures = suite("store", &Target::Store(store.clone()), args).await?;
    store.close().await.context("closing the store")?;

    if args.skip_etcd {
        return Ok(());
    }
    let etcd = EtcdProcess::start(&args.etcd_bin, &base.join("etcd")).await?;
    let client = EtcdClient::connect(etcd.client_addr, args.etcd_conns).await?;
    let etcd_figures = suite("etcd", &Target::Etcd(client), args).await?;
    drop(etcd);

    let c = args.clients;
    let s = &store_figures;
    let e = &etcd_figures;
    report("store_vs_etcd_put_1_ratio", s.put_1_ops / e.put_1_ops, "x");
    report(
        &format!("store_vs_etcd_put_{c}_ratio"),
        s.put_n_ops / e.put_n_ops,
        "x",
    );
    report(
        "store_vs_etcd_put_1_p50_ratio",
        e.put_1_p50 / s.put_1_p50,
        "x",
    );
    report(
        &format!("store_vs_etcd_put_{c}_p99_ratio"),
        e.put_n_p99 / s.put_n_p99,
        "x",
    );
    report(
        &format!("store_vs_etcd_range_{}_p50_ratio", args.range_keys),
        e.range_small_p50 / s.range_small_p50,
        "x",
    );
    if let (Some(el), Some(sl)) = (e.range_large_p50, s.range_large_p50) {
        report(
            &format!("store_vs_etcd_range_{LARGE_RANGE_KEYS}_p50_ratio"),
            el / sl,
            "x",
        );
    }
    report(
        "store_vs_etcd_watch_from_put_p50_ratio",
        e.watch_p50 / s.watch_p50,
        "x",
    );
    Ok(())
}

/// The figures the final ratios are computed from.
struct Figures {
    put_1_ops: f64,
    put_1_p50: f64,
    put_n_ops: f64,
    put_n_p99: f64,
    range_small_p50: f64,
    range_large_p50: Option<f64>,
    watch_p50: f64,
}

/// Runs the whole workload against one system, printing its figures.
async fn suite(name: &str, target: &Target, args: &StoreBenchArgs) -> Result<Figures> {
    let value = Bytes::from(vec![b'v'; args.value_size]);
    let c = args.clients;

    let (ops, mut lat) =
        put_phase(target, "/bench/put1/", 1, args.single_client_ops, &value).await?;
    report(&format!("{name}_put_1_client_ops"), ops, "ops/s");
    let put_1_p50 = percentile(&mut lat, 50.0);
    report(&format!("{name}_put_1_client_p50"), put_1_p50, "ms");
    report(
        &format!("{name}_put_1_client_p99"),
        percentile(&mut lat, 99.0),
        "ms",
    );
    let put_1_ops = ops;

    let prefix_n = format!("/bench/put{c}/");
    let (put_n_ops, mut lat) = put_phase(target, &prefix_n, c, args.ops, &value).await?;
    report(&format!("{name}_put_{c}_clients_ops"), put_n_ops, "ops/s");
    report(
        &format!("{name}_put_{c}_clients_p50"),
        percentile(&mut lat, 50.0),
        "ms",
    );
    let put_n_p99 = percentile(&mut lat, 99.0);
    report(&format!("{name}_put_{c}_clients_p99"), put_n_p99, "ms");

    // Ranges: a prefix holding exactly `range_keys` keys (written untimed), read whole.
    put_phase(target, "/bench/range/", c, args.range_keys, &value).await?;
    let mut lat = range_phase(target, "/bench/range/", 0, args.range_keys, args.range_reps).await?;
    let k = args.range_keys;
    let range_small_p50 = percentile(&mut lat, 50.0);
    report(&format!("{name}_range_{k}_keys_p50"), range_small_p50, "ms");
    report(
        &format!("{name}_range_{k}_keys_p99"),
        percentile(&mut lat, 99.0),
        "ms",
    );
    // And the first 10,000 keys of the concurrent put phase's prefix (limit 10,000).
    let range_large_p50 = if args.ops >= LARGE_RANGE_KEYS {
        let reps = (args.range_reps / 4).max(5);
        let mut lat =
            range_phase(target, &prefix_n, LARGE_RANGE_KEYS, LARGE_RANGE_KEYS, reps).await?;
        let p50 = percentile(&mut lat, 50.0);
        report(
            &format!("{name}_range_{LARGE_RANGE_KEYS}_keys_p50"),
            p50,
            "ms",
        );
        report(
            &format!("{name}_range_{LARGE_RANGE_KEYS}_keys_p99"),
            percentile(&mut lat, 99.0),
            "ms",
        );
        Some(p50)
    } else {
        None
    };

    let (mut from_put, mut after_ack) =
        watch_phase(target, args.watchers, args.watch_events, &value).await?;
    let w = args.watchers;
    let watch_p50 = percentile(&mut from_put, 50.0);
    report(
        &format!("{name}_watch_{w}_watchers_from_put_p50"),
        watch_p50,
        "ms",
    );
    report(
        &format!("{name}_watch_{w}_watchers_from_put_p99"),
        percentile(&mut from_put, 99.0),
        "ms",
    );
    report(
        &format!("{name}_watch_{w}_watchers_after_ack_p50"),
        percentile(&mut after_ack, 50.0),
        "ms",
    );
    report(
        &format!("{name}_watch_{w}_watchers_after_ack_p99"),
        percentile(&mut after_ack, 99.0),
        "ms",
    );
    Ok(Figures {
        put_1_ops,
        put_1_p50,
        put_n_ops,
        put_n_p99,
        range_small_p50,
        range_large_p50,
        watch_p50,
    })
}

/// `ops` puts of `value` under `prefix` from `clients` concurrent tasks; returns ops/s and the
/// per-put latencies in ms.
async fn put_phase(
    target: &Target,
    prefix: &str,
    clients: usize,
    ops: usize,
    value: &Bytes,
) -> Result<(f64, Vec<f64>)> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        let target = target.clone();
        let next = next.clone();
        let prefix = prefix.to_string();
        let value = value.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ops {
                    break;
                }
                let t = Instant::now();
                target
                    .put(client, format!("{prefix}{i:08}"), value.clone())
                    .await?;
                lat.push(t.elapsed().as_secs_f64() * 1e3);
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::with_capacity(ops);
    for t in tasks {
        all.extend(t.await.context("put task")??);
    }
    let took = start.elapsed().as_secs_f64();
    Ok((ops as f64 / took, all))
}

/// Times `reps` sequential ranges of `prefix` (with `limit`, 0 = none), checking each returns
/// `expect` keys; returns latencies in ms.
async fn range_phase(
    target: &Target,
    prefix: &str,
    limit: usize,
    expect: usize,
    reps: usize,
) -> Result<Vec<f64>> {
    // One untimed warm-up.
    target.range_prefix(prefix, limit).await?;
    let mut lat = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        let n = target.range_prefix(prefix, limit).await?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        ensure!(
            n == expect,
            "range of {prefix} returned {n} keys, expected {expect}"
        );
    }
    Ok(lat)
}

/// `watchers` watchers on one prefix; one client puts `events` keys one at a time. For each
/// (watcher, event) pair it measures event received − put sent ("from put", the end-to-end
/// propagation time) and event received − put acknowledged ("after ack", clamped at 0: etcd
/// often delivers the event before the put's own response arrives). Both in ms.
async fn watch_phase(
    target: &Target,
    watchers: usize,
    events: usize,
    value: &Bytes,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let prefix = "/bench/watch/";
    let mut tasks = Vec::with_capacity(watchers);
    for _ in 0..watchers {
        let mut w = target.watch(prefix).await?;
        tasks.push(tokio::spawn(async move {
            let mut received = vec![None::<Instant>; events];
            let mut seen = 0;
            while seen < events {
                for key in w.next_keys().await? {
                    let now = Instant::now();
                    let seq: usize = key
                        .strip_prefix(prefix)
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| anyhow!("unexpected watched key {key}"))?;
                    let slot = received
                        .get_mut(seq)
                        .ok_or_else(|| anyhow!("unexpected watched key {key}"))?;
                    ensure!(slot.is_none(), "duplicate event for {key}");
                    *slot = Some(now);
                    seen += 1;
                }
            }
            anyhow::Ok(received)
        }));
    }
    let mut sent = Vec::with_capacity(events);
    let mut acked = Vec::with_capacity(events);
    for seq in 0..events {
        sent.push(Instant::now());
        target
            .put(0, format!("{prefix}{seq:08}"), value.clone())
            .await?;
        acked.push(Instant::now());
    }
    let mut from_put = Vec::with_capacity(watchers * events);
    let mut after_ack = Vec::with_capacity(watchers * events);
    for t in tasks {
        let received = tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .context("watchers did not receive every event within 60s")?
            .context("watch task")??;
        for ((sent, ack), got) in sent.iter().zip(&acked).zip(received) {
            let got = got.ok_or_else(|| anyhow!("missing watch event"))?;
            from_put.push(got.saturating_duration_since(*sent).as_secs_f64() * 1e3);
            after_ack.push(got.saturating_duration_since(*ack).as_secs_f64() * 1e3);
        }
    }
    Ok((from_put, after_ack))
}

/// The system under test.
#[derive(Clone)]
enum Target {
    Store(Store),
    Etcd(EtcdClient),
}

impl Target {
    async fn put(&self, client: usize, key: String, value: Bytes) -> Result<()> {
        match self {
            Target::Store(s) => {
                s.txn(Txn {
                    success: vec![Op::Put { key, value }],
                    ..Txn::default()
                })
                .await?;
            }
            Target::Etcd(e) => e.put(client, key.as_bytes(), &value).await?,
        }
        Ok(())
    }

    async fn range_prefix(&self, prefix: &str, limit: usize) -> Result<usize> {
        match self {
            Target::Store(s) => Ok(s
                .range(&RangeRequest {
                    start: prefix.to_string(),
                    end: RangeEnd::Prefix,
                    limit,
                    revision: 0,
                    count_only: false,
                })?
                .kvs
                .len()),
            Target::Etcd(e) => e.range_prefix(prefix, limit).await,
        }
    }

    async fn watch(&self, prefix: &str) -> Result<BenchWatch> {
        Ok(match self {
            Target::Store(s) => BenchWatch::Store(s.watch(prefix, 0)?),
            Target::Etcd(e) => BenchWatch::Etcd(e.watch(prefix).await?),
        })
    }
}

enum BenchWatch {
    Store(control_store::Watcher),
    Etcd(EtcdWatch),
}

impl BenchWatch {
    /// The keys of the next event(s).
    async fn next_keys(&mut self) -> Result<Vec<String>> {
        match self {
            BenchWatch::Store(w) => match w.next().await {
                Some(event) => Ok(vec![event?.kv.key]),
                None => bail!("store watch ended"),
            },
            BenchWatch::Etcd(w) => w.next_keys().await,
        }
    }
}

/// A single-member etcd with its own data dir, killed on drop.
struct EtcdProcess {
    child: Child,
    client_addr: SocketAddr,
}

impl EtcdProcess {
    async fn start(bin: &Path, dir: &Path) -> Result<EtcdProcess> {
        std::fs::create_dir_all(dir)?;
        let client_addr = free_port()?;
        let peer_addr = free_port()?;
        let log = std::fs::File::create(dir.join("etcd.log"))?;
        let client_url = format!("http://{client_addr}");
        let peer_url = format!("http://{peer_addr}");
        let child = std::process::Command::new(bin)
            .arg("--name=bench")
            .arg(format!("--data-dir={}", dir.join("data").display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=bench={peer_url}"))
            .arg("--initial-cluster-state=new")
            .arg("--quota-backend-bytes=8589934592")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (install etcd 3.4: apt-get install etcd-server)",
                    bin.display()
                )
            })?;
        let mut process = EtcdProcess { child, client_addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = process.child.try_wait()? {
                bail!(
                    "etcd exited at start-up with {status}; see {}",
                    dir.join("etcd.log").display()
                );
            }
            if let Ok(client) = EtcdClient::connect(client_addr, 1).await {
                if client.range_prefix("/bench/ready", 0).await.is_ok() {
                    break;
                }
            }
            ensure!(
                Instant::now() < deadline,
                "etcd did not become ready within 30s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(process)
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

type GrpcBody = BoxBody<Bytes, Infallible>;

/// A minimal etcd v3 gRPC client over hyper's HTTP/2: Put, Range and Watch.
#[derive(Clone)]
struct EtcdClient {
    conns: Arc<Vec<hyper::client::conn::http2::SendRequest<GrpcBody>>>,
    authority: String,
    next_conn: Arc<AtomicUsize>,
}

impl EtcdClient {
    async fn connect(addr: SocketAddr, conns: usize) -> Result<EtcdClient> {
        let mut senders = Vec::with_capacity(conns);
        for _ in 0..conns {
            let tcp = tokio::net::TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
                .initial_stream_window_size(4 << 20)
                .initial_connection_window_size(16 << 20)
                .handshake(TokioIo::new(tcp))
                .await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            senders.push(sender);
        }
        Ok(EtcdClient {
            conns: Arc::new(senders),
            authority: addr.to_string(),
            next_conn: Arc::new(AtomicUsize::new(0)),
        })
    }

    fn sender(&self, client: usize) -> hyper::client::conn::http2::SendRequest<GrpcBody> {
        self.conns[client % self.conns.len()].clone()
    }

    fn request(&self, path: &str, body: GrpcBody) -> Result<http::Request<GrpcBody>> {
        Ok(http::Request::builder()
            .method(http::Method::POST)
            .uri(format!("http://{}{path}", self.authority))
            .header(http::header::CONTENT_TYPE, "application/grpc")
            .header(http::header::TE, "trailers")
            .body(body)?)
    }

    /// One unary gRPC call; returns the response message.
    async fn unary(&self, client: usize, path: &str, message: Vec<u8>) -> Result<Bytes> {
        let mut sender = self.sender(client);
        sender.ready().await?;
        let body = Full::new(grpc_frame(&message)).boxed();
        let resp = sender.send_request(self.request(path, body)?).await?;
        let (parts, body) = resp.into_parts();
        ensure!(
            parts.status == http::StatusCode::OK,
            "{path}: HTTP {}",
            parts.status
        );
        grpc_status(&parts.headers, path)?; // a trailers-only error answer
        let collected = body.collect().await?;
        if let Some(trailers) = collected.trailers() {
            grpc_status(trailers, path)?;
        }
        let mut data = collected.to_bytes();
        grpc_unframe(&mut data)?.ok_or_else(|| anyhow!("{path}: empty response"))
    }

    async fn put(&self, client: usize, key: &[u8], value: &[u8]) -> Result<()> {
        let mut m = Vec::with_capacity(key.len() + value.len() + 16);
        pb::bytes_field(&mut m, 1, key);
        pb::bytes_field(&mut m, 2, value);
        let resp = self.unary(client, "/etcdserverpb.KV/Put", m).await?;
        ensure!(
            pb::header_revision(&resp)? > 0,
            "put answered without a revision"
        );
        Ok(())
    }

    async fn range_prefix(&self, prefix: &str, limit: usize) -> Result<usize> {
        let mut m = Vec::new();
        pb::bytes_field(&mut m, 1, prefix.as_bytes());
        pb::bytes_field(&mut m, 2, &prefix_end(prefix.as_bytes()));
        if limit > 0 {
            pb::varint_field(&mut m, 3, limit as u64);
        }
        let client = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let resp = self.unary(client, "/etcdserverpb.KV/Range", m).await?;
        let mut kvs = 0;
        for field in pb::fields(&resp) {
            if let (2, pb::Value::Bytes(_)) = field? {
                kvs += 1;
            }
        }
        Ok(kvs)
    }

    /// Opens a watch stream on `prefix` from now on and waits until etcd confirms it.
    async fn watch(&self, prefix: &str) -> Result<EtcdWatch> {
        let mut create = Vec::new();
        pb::bytes_field(&mut create, 1, prefix.as_bytes());
        pb::bytes_field(&mut create, 2, &prefix_end(prefix.as_bytes()));
        let mut request = Vec::new();
        pb::bytes_field(&mut request, 1, &create); // WatchRequest.create_request
        let (mut tx, body) = Channel::<Bytes, Infallible>::new(4);
        tx.send_data(grpc_frame(&request))
            .await
            .map_err(|_| anyhow!("watch request stream closed"))?;
        let client = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let mut sender = self.sender(client);
        sender.ready().await?;
        let resp = sender
            .send_request(self.request("/etcdserverpb.Watch/Watch", body.boxed())?)
            .await?;
        let (parts, body) = resp.into_parts();
        ensure!(
            parts.status == http::StatusCode::OK,
            "watch: HTTP {}",
            parts.status
        );
        grpc_status(&parts.headers, "watch")?;
        let mut watch = EtcdWatch {
            _requests: tx,
            body,
            buf: BytesMut::new(),
            pending: VecDeque::new(),
        };
        let created = watch.next_message().await?;
        ensure!(
            pb::watch_created(&created)?,
            "etcd did not confirm the watch"
        );
        Ok(watch)
    }
}

/// An open etcd watch stream.
struct EtcdWatch {
    /// Kept open: closing the request stream would end the watch.
    _requests: http_body_util::channel::Sender<Bytes, Infallible>,
    body: Incoming,
    buf: BytesMut,
    pending: VecDeque<Bytes>,
}

impl EtcdWatch {
    async fn next_message(&mut self) -> Result<Bytes> {
        loop {
            if let Some(m) = self.pending.pop_front() {
                return Ok(m);
            }
            match self.body.frame().await {
                Some(frame) => {
                    let frame = frame?;
                    if let Some(data) = frame.data_ref() {
                        self.buf.extend_from_slice(data);
                        while let Some(m) = grpc_unframe_buf(&mut self.buf)? {
                            self.pending.push_back(m);
                        }
                    } else if let Some(trailers) = frame.trailers_ref() {
                        grpc_status(trailers, "watch")?;
                        bail!("etcd ended the watch stream");
                    }
                }
                None => bail!("etcd closed the watch stream"),
            }
        }
    }

    async fn next_keys(&mut self) -> Result<Vec<String>> {
        loop {
            let m = self.next_message().await?;
            let keys = pb::watch_event_keys(&m)?;
            if !keys.is_empty() {
                return Ok(keys);
            }
        }
    }
}

/// The first key after every key starting with `prefix` (etcd's prefix range_end).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0] // every key
}

/// gRPC length-prefixed message: uncompressed flag, big-endian length, message.
fn grpc_frame(message: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(5 + message.len());
    out.push(0);
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out.into()
}

fn grpc_unframe(data: &mut Bytes) -> Result<Option<Bytes>> {
    if data.is_empty() {
        return Ok(None);
    }
    ensure!(data.len() >= 5, "truncated gRPC message");
    ensure!(data[0] == 0, "compressed gRPC messages are not supported");
    let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
    ensure!(data.len() >= 5 + len, "truncated gRPC message");
    data.advance(5);
    Ok(Some(data.split_to(len)))
}

fn grpc_unframe_buf(buf: &mut BytesMut) -> Result<Option<Bytes>> {
    if buf.len() < 5 {
        return Ok(None);
    }
    ensure!(buf[0] == 0, "compressed gRPC messages are not supported");
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if buf.len() < 5 + len {
        return Ok(None);
    }
    buf.advance(5);
    Ok(Some(buf.split_to(len).freeze()))
}

fn grpc_status(headers: &http::HeaderMap, what: &str) -> Result<()> {
    match headers
        .get("grpc-status")
        .map(|v| v.to_str().unwrap_or("?"))
    {
        None | Some("0") => Ok(()),
        Some(code) => {
            let message = headers
                .get("grpc-message")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            bail!("{what}: gRPC status {code}: {message}")
        }
    }
}

/// Just enough protobuf for etcd's Put, Range and Watch messages.
mod pb {
    use anyhow::{bail, Result};

    pub fn varint(buf: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        buf.push(v as u8);
    }

    pub fn bytes_field(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
        varint(buf, (u64::from(field) << 3) | 2);
        varint(buf, bytes.len() as u64);
        buf.extend_from_slice(bytes);
    }

    pub fn varint_field(buf: &mut Vec<u8>, field: u32, v: u64) {
        varint(buf, u64::from(field) << 3);
        varint(buf, v);
    }

    pub enum Value<'a> {
        Varint(u64),
        Bytes(&'a [u8]),
        Fixed,
    }

    /// Iterates over (field number, value); an error ends the iteration.
    pub fn fields(mut buf: &[u8]) -> impl Iterator<Item = Result<(u32, Value<'_>)>> {
        let mut failed = false;
        std::iter::from_fn(move || {
            if buf.is_empty() || failed {
                return None;
            }
            let r = next_field(&mut buf);
            failed = r.is_err();
            Some(r)
        })
    }

    fn read_varint(buf: &mut &[u8]) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let Some((&b, rest)) = buf.split_first() else {
                bail!("truncated varint");
            };
            *buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        bail!("varint too long")
    }

    fn next_field<'a>(buf: &mut &'a [u8]) -> Result<(u32, Value<'a>)> {
        let key = read_varint(buf)?;
        let field = (key >> 3) as u32;
        let value = match key & 7 {
            0 => Value::Varint(read_varint(buf)?),
            2 => {
                let len = read_varint(buf)? as usize;
                if buf.len() < len {
                    bail!("truncated field");
                }
                let (v, rest) = buf.split_at(len);
                *buf = rest;
                Value::Bytes(v)
            }
            1 | 5 => {
                let n = if key & 7 == 1 { 8 } else { 4 };
                if buf.len() < n {
                    bail!("truncated field");
                }
                *buf = &buf[n..];
                Value::Fixed
            }
            t => bail!("unsupported wire type {t}"),
        };
        Ok((field, value))
    }

    /// ResponseHeader.revision (field 3) of a response's header (field 1).
    pub fn header_revision(resp: &[u8]) -> Result<i64> {
        for f in fields(resp) {
            if let (1, Value::Bytes(header)) = f? {
                for h in fields(header) {
                    if let (3, Value::Varint(rev)) = h? {
                        return Ok(rev as i64);
                    }
                }
            }
        }
        Ok(0)
    }

    /// WatchResponse.created (field 3).
    pub fn watch_created(resp: &[u8]) -> Result<bool> {
        for f in fields(resp) {
            if let (3, Value::Varint(v)) = f? {
                return Ok(v != 0);
            }
        }
        Ok(false)
    }

    /// The keys of WatchResponse.events (field 11: Event.kv = 2, KeyValue.key = 1). Fails if
    /// the watch was canceled (field 4), e.g. compacted.
    pub fn watch_event_keys(resp: &[u8]) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        for f in fields(resp) {
            match f? {
                (4, Value::Varint(v)) if v != 0 => bail!("etcd canceled the watch"),
                (11, Value::Bytes(event)) => {
                    for e in fields(event) {
                        if let (2, Value::Bytes(kv)) = e? {
                            for k in fields(kv) {
                                if let (1, Value::Bytes(key)) = k? {
                                    keys.push(String::from_utf8_lossy(key).into_owned());
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(keys)
    }
}
