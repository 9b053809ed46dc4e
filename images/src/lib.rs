//! The container images the cluster's own tests run, built from this workspace and pushed to
//! a registry, so that no test depends on Docker Hub or on a toolchain outside it.
//!
//! - [`testapp`] builds `images/testapp` statically and packs it as an image; its
//!   [`testapp::build_and_push`] is what other crates' tests call.
//! - [`layer`], [`oci`], [`elf`] and [`reference`] are pure: reproducible layer tars, the
//!   config, manifest and OCI layout, the static-executable check, and push targets.
//! - [`push`] speaks the distribution API's push half.

pub mod elf;
pub mod error;
pub mod layer;
pub mod oci;
pub mod push;
pub mod reference;
pub mod testapp;

pub use error::{Error, Result};
pub use oci::{Blob, Image};
pub use push::{push, PushOptions, Pushed};
pub use reference::PushTarget;
pub use testapp::{build_and_push, BuildOptions, BuiltImage};
