//! `images`: builds the test images of this workspace. `images testapp --out DIR` writes the
//! testapp image as an OCI layout; `--push HOST:PORT/REPO:TAG` pushes it to a registry.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use images::{BuildOptions, PushOptions, PushTarget};
use node_image::Credentials;

#[derive(Parser)]
#[command(
    name = "images",
    about = "Builds the workspace's test images as OCI images"
)]
struct Cli {
    /// Log filter (tracing's env-filter syntax).
    #[arg(long, global = true, default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// The test workload (`images/testapp`): one static binary serving HTTP on 8080.
    Testapp(TestappArgs),
}

#[derive(clap::Args)]
struct TestappArgs {
    /// Write the image as an OCI image layout in DIR.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Push to HOST[:PORT]/REPOSITORY[:TAG].
    #[arg(long, value_name = "REFERENCE")]
    push: Option<String>,
    /// Plain HTTP (always used for 127.0.0.1, localhost and ::1).
    #[arg(long)]
    plain_http: bool,
    /// CA certificates (PEM) to trust besides the system's.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Registry user; REGISTRY_AUTH=user:password also sets the credentials.
    #[arg(long, requires = "password")]
    username: Option<String>,
    #[arg(long, requires = "username")]
    password: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Commands::Testapp(args) => testapp(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The message and its causes, without a backtrace: these are user errors (a
            // refused password, a registry down), not bugs.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn testapp(args: TestappArgs) -> anyhow::Result<()> {
    // Parse the target before a build that could take a while.
    let target = args.push.as_deref().map(PushTarget::parse).transpose()?;
    let credentials = credentials(&args)?;

    let built = images::testapp::build(&BuildOptions {
        show_cargo_output: true,
        ..BuildOptions::default()
    })?;
    let image = &built.image;
    println!(
        "testapp binary: {} ({} bytes, static)",
        built.binary.display(),
        built.binary_size
    );
    println!(
        "layer:    {} {} bytes gzip ({} bytes tar)",
        image.layers[0].digest,
        image.layers[0].size(),
        built.uncompressed_layer_size
    );
    println!(
        "config:   {} {} bytes",
        image.config.digest,
        image.config.size()
    );
    println!(
        "manifest: {} {} bytes",
        image.manifest.digest,
        image.manifest.size()
    );
    println!("image:    {} bytes in all", image.total_size());

    if let Some(dir) = &args.out {
        let ref_name = target.as_ref().map_or("latest", |t| t.tag.as_str());
        images::oci::write_layout(dir, image, ref_name)?;
        println!("wrote OCI image layout {} ({ref_name})", dir.display());
    }
    if let Some(target) = &target {
        let options = PushOptions {
            plain_http: args.plain_http,
            ca_file: args.ca_file.clone(),
            credentials,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let pushed = runtime.block_on(images::push(image, target, &options))?;
        for blob in &pushed.blobs {
            println!(
                "  {} {} bytes {}",
                blob.digest,
                blob.size,
                if blob.uploaded {
                    "uploaded"
                } else {
                    "already there"
                }
            );
        }
        println!("pushed {}", pushed.reference);
    }
    Ok(())
}

fn credentials(args: &TestappArgs) -> anyhow::Result<Option<Credentials>> {
    if let (Some(username), Some(password)) = (&args.username, &args.password) {
        return Ok(Some(Credentials {
            username: username.clone(),
            password: password.clone(),
        }));
    }
    match std::env::var("REGISTRY_AUTH") {
        Ok(auth) if !auth.is_empty() => {
            let (username, password) = auth
                .split_once(':')
                .context("REGISTRY_AUTH must be user:password")?;
            Ok(Some(Credentials {
                username: username.to_string(),
                password: password.to_string(),
            }))
        }
        _ => Ok(None),
    }
}
