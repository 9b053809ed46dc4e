//! Reading the machine config from its sources ([`node_config::source`]): the first source
//! that holds a document decides; a document that is there but invalid is an error naming
//! the field (it is not skipped for a later source, which would boot a machine on a config
//! nobody meant).

use node_config::source::{default_sources, Source};
use node_config::{cmdline::Cmdline, ConfigError, MachineConfig};

/// The text a source holds now; None when it holds nothing (yet).
fn read_source(s: &Source) -> Option<String> {
    match s {
        Source::FwCfg(name) => std::fs::read_to_string(Source::fw_cfg_path(name)).ok(),
        Source::Inline(text) => Some(text.clone()),
        Source::File(p) => std::fs::read_to_string(p).ok(),
    }
}

/// Parses the first present document among `found` (source, text-if-present).
pub fn pick(found: &[(Source, Option<String>)]) -> Result<(MachineConfig, Source), ConfigError> {
    for (src, text) in found {
        if let Some(t) = text {
            return MachineConfig::parse(t)
                .map(|c| (c, src.clone()))
                .map_err(|e| match e {
                    // A field error names its field already; a syntax error gets its source.
                    ConfigError::Syntax(m) => {
                        ConfigError::Syntax(format!("{m} (in {})", src.describe()))
                    }
                    other => other,
                });
        }
    }
    let looked: Vec<String> = found.iter().map(|(s, _)| s.describe()).collect();
    Err(ConfigError::Missing(format!(
        "nothing in {}",
        looked.join(", nor in ")
    )))
}

/// Reads the config per the command line (`nodeos.config=`) or the default sources.
pub fn read(cmdline: &Cmdline) -> Result<(MachineConfig, Source), ConfigError> {
    let sources = default_sources(cmdline, super::state::MOUNT_POINT)?;
    let found: Vec<(Source, Option<String>)> = sources
        .into_iter()
        .map(|s| {
            let t = read_source(&s);
            (s, t)
        })
        .collect();
    pick(&found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "
version: v1alpha1
hostname: w1
role: worker
cluster:
  endpoint: https://10.0.0.1:6443
  token: abcdef.0123456789abcdef
  caHash: sha256:0000000000000000000000000000000000000000000000000000000000000000
";

    #[test]
    fn the_first_source_holding_a_document_decides() {
        let found = vec![
            (Source::FwCfg("opt/x".into()), None),
            (Source::File("/var/config.yaml".into()), Some(GOOD.into())),
        ];
        let (c, src) = pick(&found).unwrap();
        assert_eq!(c.hostname, "w1");
        assert_eq!(src, Source::File("/var/config.yaml".into()));
    }

    #[test]
    fn an_invalid_document_is_an_error_naming_its_field_not_skipped() {
        let bad = GOOD.replace("hostname: w1", "hostname: W_1");
        let found = vec![
            (Source::FwCfg("opt/x".into()), Some(bad)),
            (Source::File("/var/config.yaml".into()), Some(GOOD.into())),
        ];
        match pick(&found) {
            Err(ConfigError::Invalid { field, .. }) => assert_eq!(field, "hostname"),
            other => panic!("{other:?}"),
        }
        let broken = vec![(Source::FwCfg("opt/x".into()), Some("version: [".into()))];
        let e = pick(&broken).unwrap_err().to_string();
        assert!(e.contains("fw_cfg opt/x"), "{e}");
    }

    #[test]
    fn no_document_anywhere_says_where_it_looked() {
        let found = vec![
            (Source::FwCfg("opt/io.nodeos/config".into()), None),
            (Source::File("/var/config.yaml".into()), None),
        ];
        let e = pick(&found).unwrap_err();
        assert!(matches!(e, ConfigError::Missing(_)));
        assert_eq!(
            e.to_string(),
            "no machine config: nothing in fw_cfg opt/io.nodeos/config, nor in file /var/config.yaml"
        );
    }
}
