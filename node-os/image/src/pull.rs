//! A pull: resolve the reference against the configured endpoints, fetch the manifest (and the
//! platform's manifest from an index), the config and the layers into the store, then record
//! the image. Every blob is streamed to disk and verified before it is visible; blobs already
//! in the store are not fetched again.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use crate::config::{ImageConfig, MAX_CONFIG_BYTES};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{self, Descriptor, ImageManifest, Manifest, Platform, MAX_MANIFEST_BYTES};
use crate::reference::Reference;
use crate::registry::hosts::RegistryConfig;
use crate::registry::RegistryClient;
use crate::snapshot::chain_ids;
use crate::store::{ImageRecord, LayerRecord, Store};

/// How many layers download at once.
const PARALLEL_LAYERS: usize = 3;
/// Index → index → manifest nesting allowed before giving up.
const MAX_INDEX_DEPTH: usize = 3;

#[derive(Clone, Debug)]
pub struct PullOptions {
    pub platform: Platform,
}

impl Default for PullOptions {
    fn default() -> PullOptions {
        PullOptions {
            platform: Platform::linux_amd64(),
        }
    }
}

/// What a pull did.
#[derive(Clone, Debug)]
pub struct Pulled {
    pub image: ImageRecord,
    /// Blobs downloaded by this pull.
    pub fetched: Vec<Digest>,
    /// Blobs that were already in the store.
    pub reused: Vec<Digest>,
}

/// Pulls `reference` into `store`. Endpoints (mirrors, then as configured) are tried in
/// order; the error of the last one is returned, with the others' in the log.
pub async fn pull_image(
    store: &Arc<Store>,
    registries: &RegistryConfig,
    reference: &Reference,
    options: &PullOptions,
) -> Result<Pulled> {
    let _pin = store.pin().await;
    let endpoints = registries.endpoints(reference.registry());
    let mut last_error = None;
    for endpoint in endpoints {
        let host = endpoint.host.clone();
        let client = Arc::new(RegistryClient::new(endpoint, reference.repository())?);
        match pull_from(store, &client, reference, options).await {
            Ok(pulled) => {
                tracing::info!(
                    image = %reference,
                    endpoint = %host,
                    image_id = %pulled.image.image_id(),
                    fetched = pulled.fetched.len(),
                    reused = pulled.reused.len(),
                    "image pulled"
                );
                return Ok(pulled);
            }
            Err(error) => {
                tracing::warn!(image = %reference, endpoint = %host, %error, "pull failed");
                last_error = Some(error);
            }
        }
    }
    Err(last_error.unwrap_or_else(|| Error::Registry {
        registry: reference.registry().to_string(),
        message: "no endpoint configured".into(),
    }))
}

async fn pull_from(
    store: &Arc<Store>,
    client: &Arc<RegistryClient>,
    reference: &Reference,
    options: &PullOptions,
) -> Result<Pulled> {
    let mut fetched = Vec::new();
    let mut reused = Vec::new();

    let (resolved_digest, mut current) = fetch_manifest(
        store,
        client,
        &reference.manifest_reference(),
        reference.digest(),
        None,
    )
    .await?;
    let mut manifest_digest = resolved_digest.clone();
    let mut depth = 0;
    let image: ImageManifest = loop {
        match current {
            Manifest::Image(image) => break image,
            Manifest::Index(entries) => {
                depth += 1;
                if depth > MAX_INDEX_DEPTH {
                    return Err(Error::Manifest {
                        what: reference.to_string(),
                        reason: "indexes nested too deep".into(),
                    });
                }
                let chosen = manifest::select_platform(&entries, &options.platform)
                    .ok_or_else(|| Error::NoMatchingPlatform {
                        reference: reference.to_string(),
                        platform: options.platform.to_string(),
                        available: manifest::platforms(&entries),
                    })?
                    .clone();
                let (digest, next) = fetch_manifest(
                    store,
                    client,
                    &chosen.digest.to_string(),
                    Some(&chosen.digest),
                    Some(chosen.size),
                )
                .await?;
                manifest_digest = digest;
                current = next;
            }
        }
    };

    if image.config.size > MAX_CONFIG_BYTES {
        return Err(Error::TooLarge {
            what: format!("image config {}", image.config.digest),
            limit: MAX_CONFIG_BYTES,
        });
    }
    record_fetch(
        fetch_blob(store, client, &image.config).await?,
        &image.config.digest,
        &mut fetched,
        &mut reused,
    );
    let config_bytes = store.read_blob(&image.config.digest, MAX_CONFIG_BYTES)?;
    let config = ImageConfig::parse(&config_bytes)?;
    if !config.architecture.is_empty()
        && (config.architecture != options.platform.architecture
            || config.os != options.platform.os)
    {
        return Err(Error::NoMatchingPlatform {
            reference: reference.to_string(),
            platform: options.platform.to_string(),
            available: format!("{}/{}", config.os, config.architecture),
        });
    }
    if config.diff_ids.len() != image.layers.len() {
        return Err(Error::Config {
            what: image.config.digest.to_string(),
            reason: format!(
                "{} diff_ids for {} layers",
                config.diff_ids.len(),
                image.layers.len()
            ),
        });
    }

    let results: Vec<(Digest, bool)> = futures::stream::iter(image.layers.iter().cloned())
        .map(|layer| {
            let store = store.clone();
            let client = client.clone();
            async move {
                let was_fetched = fetch_blob(&store, &client, &layer).await?;
                Ok::<_, Error>((layer.digest, was_fetched))
            }
        })
        .buffered(PARALLEL_LAYERS)
        .try_collect()
        .await?;
    for (digest, was_fetched) in results {
        record_fetch(was_fetched, &digest, &mut fetched, &mut reused);
    }

    let chains = chain_ids(&config.diff_ids);
    let layers = image
        .layers
        .iter()
        .zip(&config.diff_ids)
        .zip(chains)
        .map(|((l, diff_id), chain_id)| LayerRecord {
            digest: l.digest.clone(),
            size: l.size,
            media_type: l.media_type.clone(),
            diff_id: diff_id.clone(),
            chain_id,
        })
        .collect();
    let record = ImageRecord {
        reference: reference.to_string(),
        name: reference.name(),
        resolved_digest,
        manifest_digest,
        manifest_media_type: image.media_type.clone(),
        config_digest: image.config.digest.clone(),
        config,
        layers,
    };
    store.put_image(&record)?;
    Ok(Pulled {
        image: record,
        fetched,
        reused,
    })
}

fn record_fetch(
    was_fetched: bool,
    digest: &Digest,
    fetched: &mut Vec<Digest>,
    reused: &mut Vec<Digest>,
) {
    if was_fetched {
        fetched.push(digest.clone());
    } else {
        reused.push(digest.clone());
    }
}

/// Fetches a manifest, checks it against the digest (and size) that named it, stores it, and
/// parses it. Returns its digest.
async fn fetch_manifest(
    store: &Store,
    client: &RegistryClient,
    reference: &str,
    expected: Option<&Digest>,
    expected_size: Option<u64>,
) -> Result<(Digest, Manifest)> {
    let fetched = client.get_manifest(reference, MAX_MANIFEST_BYTES).await?;
    let digest = Digest::of(&fetched.body);
    let what = format!("manifest {reference} from {}", client.endpoint().host);
    if let Some(expected) = expected {
        if &digest != expected {
            return Err(Error::DigestMismatch {
                what,
                expected: expected.clone(),
                actual: digest,
            });
        }
    }
    if let Some(size) = expected_size {
        if fetched.body.len() as u64 != size {
            return Err(Error::SizeMismatch {
                what,
                expected: size,
                actual: fetched.body.len() as u64,
            });
        }
    }
    let parsed = manifest::parse_manifest(fetched.content_type.as_deref(), &fetched.body, &what)?;
    store.write_blob(&digest, &fetched.body).await?;
    Ok((digest, parsed))
}

/// Makes sure a blob is in the store; returns whether it had to be downloaded.
async fn fetch_blob(store: &Store, client: &RegistryClient, blob: &Descriptor) -> Result<bool> {
    let _lock = store.lock(format!("blob:{}", blob.digest)).await;
    if store.has_blob(&blob.digest) {
        return Ok(false);
    }
    let mut ingest = store.ingest(&blob.digest, blob.size).await?;
    client.get_blob(&blob.digest, &mut ingest).await?;
    ingest.commit().await?;
    Ok(true)
}
