//! The agent's TOML configuration: one file per section, each owning its
//! defaults and checks; this module reads a file and reports the first
//! problem as `file:line:column: field `section.key`: message`.
//!
//! Lines and columns come from the spans the TOML libraries keep: the parse
//! error's own span, and the key spans of the parsed document (`toml_edit`)
//! for problems found after parsing.

pub mod blocks;
pub mod detect;
pub mod duration;
pub mod events;
pub mod local_time;
pub mod response;
pub mod sensor;
pub mod site;
pub mod status;
pub mod uplink;

use std::path::{Path, PathBuf};

pub use blocks::BlocksConfig;
pub use detect::DetectConfig;
pub use events::EventsConfig;
pub use response::{ResponseConfig, ResponseMode, TimeZoneError};
pub use sensor::{default_local_nets, AttachMode, SensorConfig};
use serde::{Deserialize, Serialize};
pub use site::{HostRange, SiteConfig, SiteMode};
pub use status::StatusConfig;
pub use uplink::UplinkConfig;

/// A fully commented configuration file with every option at its default.
pub const EXAMPLE: &str = include_str!("example.toml");

/// The whole file.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub sensor: SensorConfig,
    pub site: SiteConfig,
    pub events: EventsConfig,
    pub blocks: BlocksConfig,
    pub status: StatusConfig,
    pub uplink: UplinkConfig,
    pub detect: DetectConfig,
    pub response: ResponseConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value that does not parse or is out of range. `line` and `column`
    /// are 1-based; 0 when the setting came from the command line.
    #[error("{}:{line}:{column}: field `{field}`: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        field: String,
        message: String,
    },
    #[error("reading {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A semantic problem found after parsing: which field, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub section: &'static str,
    pub key: &'static str,
    pub message: String,
}

/// Problems collected by the sections' checks, in file order.
#[derive(Debug, Default)]
pub struct Violations(Vec<Violation>);

impl Violations {
    fn fail(&mut self, section: &'static str, key: &'static str, message: String) {
        self.0.push(Violation {
            section,
            key,
            message,
        });
    }
}

impl Config {
    /// The settings as a TOML document (what `vantage config-check` prints).
    pub fn to_toml(&self) -> String {
        toml::to_string(self)
            .unwrap_or_else(|error| format!("# cannot print the settings: {error}\n"))
    }

    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml_str(&text, path)
    }

    /// Parses and validates `text`; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let document = toml_edit::ImDocument::parse(text).ok();
        let invalid = |offset: Option<usize>, field: String, message: String| {
            let (line, column) = offset.map_or((0, 0), |at| line_column(text, at));
            ConfigError::Invalid {
                path: origin.to_path_buf(),
                line,
                column,
                field,
                message,
            }
        };
        let config: Config = toml::from_str(text).map_err(|error| {
            let offset = error.span().map(|span| span.start);
            let field = match (&document, offset) {
                (Some(document), Some(at)) => field_at(document.as_table(), at),
                _ => String::new(),
            };
            invalid(offset, field, error.message().trim().to_owned())
        })?;
        if let Some(violation) = config.violations().into_iter().next() {
            // A problem with a key that is not written (a collector without
            // its pin) points at its section's header.
            let offset = document.as_ref().and_then(|d| {
                key_offset(d.as_table(), violation.section, violation.key)
                    .or_else(|| section_offset(d.as_table(), violation.section))
            });
            return Err(invalid(
                offset,
                format!("{}.{}", violation.section, violation.key),
                violation.message,
            ));
        }
        Ok(config)
    }

    /// Checks the settings (also after command-line overrides).
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.violations().into_iter().next() {
            None => Ok(()),
            Some(v) => Err(ConfigError::Invalid {
                path: PathBuf::from("<command line>"),
                line: 0,
                column: 0,
                field: format!("{}.{}", v.section, v.key),
                message: v.message,
            }),
        }
    }

    /// Every semantic problem, in file order.
    pub fn violations(&self) -> Vec<Violation> {
        let mut found = Violations::default();
        self.sensor.check(&mut found);
        self.site.check(&mut found);
        self.events.check(&mut found);
        self.blocks.check(&mut found);
        self.status.check(&mut found);
        self.uplink.check(&mut found);
        self.detect.check(&mut found);
        self.response.check(&mut found);
        found.0
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

fn contains(span: Option<std::ops::Range<usize>>, offset: usize) -> bool {
    span.is_some_and(|span| span.contains(&offset) || span.start == offset)
}

/// The dotted name of the key whose key or value spans `offset`, searching
/// nested tables (`section.sub.key`), else the table it falls in.
fn field_at(root: &toml_edit::Table, offset: usize) -> String {
    for (name, item) in root.iter() {
        let Some((key, _)) = root.get_key_value(name) else {
            continue;
        };
        if let Some(table) = item.as_table() {
            let inner = field_at(table, offset);
            if !inner.is_empty() {
                return format!("{name}.{inner}");
            }
            if contains(key.span(), offset) || contains(table.span(), offset) {
                return name.to_owned();
            }
        } else if contains(key.span(), offset) || contains(item.span(), offset) {
            return name.to_owned();
        }
    }
    String::new()
}

/// The table of a dotted section name (`detect.port_scan`), if written.
fn table_at<'a>(root: &'a toml_edit::Table, section: &str) -> Option<&'a toml_edit::Table> {
    section
        .split('.')
        .try_fold(root, |table, name| table.get(name)?.as_table())
}

/// Where `[section]` (dotted names allowed) is written in the file, if it is.
fn section_offset(root: &toml_edit::Table, section: &str) -> Option<usize> {
    let (parent, last) = match section.rsplit_once('.') {
        Some((parent, last)) => (table_at(root, parent)?, last),
        None => (root, section),
    };
    let (key, _) = parent.get_key_value(last)?;
    key.span().map(|span| span.start)
}

/// Where `section.key` is written in the file, if it is.
fn key_offset(root: &toml_edit::Table, section: &str, key: &str) -> Option<usize> {
    let table = table_at(root, section)?;
    let (key, _) = table.get_key_value(key)?;
    key.span().map(|span| span.start)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, Path::new("test.toml"))
    }

    fn invalid(text: &str) -> (usize, String, String) {
        match parse(text) {
            Err(ConfigError::Invalid {
                line,
                field,
                message,
                ..
            }) => (line, field, message),
            other => panic!("expected an invalid config, got {other:?}"),
        }
    }

    #[test]
    fn empty_file_gives_defaults() {
        let config = parse("").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config, Config::default());
        assert_eq!(config.sensor.local_nets.len(), 5);
        assert_eq!(config.sensor.host_capacity, 32_768);
    }

    #[test]
    fn printed_settings_read_back_as_the_same_settings() {
        let config = parse(
            "[sensor]\ninterfaces = [\"lan0\"]\nlocal_nets = [\"10.1.0.0/16\", \"fd00::/8\"]\n[blocks]\ndefault_ttl = \"90m\"\n[uplink]\nheartbeat_interval = \"5s\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let printed = config.to_toml();
        assert_eq!(
            parse(&printed).unwrap_or_else(|e| panic!("{e}\n{printed}")),
            config
        );
        assert!(printed.contains("default_ttl = \"1h30m\""), "{printed}");
    }

    #[test]
    fn a_missing_required_key_points_at_its_section() {
        let (line, field, message) = invalid("# uplink\n\n[uplink]\ncollector = \"fleet:7443\"\n");
        assert_eq!((line, field.as_str()), (3, "uplink.pin"));
        assert!(message.contains("sha256"), "{message}");
    }

    #[test]
    fn the_readme_shows_the_example_as_it_is() {
        let readme = include_str!("../../../README.md");
        let block = format!("```toml\n{EXAMPLE}```");
        assert!(
            readme.contains(&block),
            "README.md's configuration block differs from sensor-user/src/config/example.toml: copy the file into it"
        );
    }

    #[test]
    fn example_parses_to_the_defaults() {
        let config = parse(EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config, Config::default());
    }

    #[test]
    fn full_file_is_read() {
        let config = parse(
            "[sensor]\ninterfaces = [\"lan0\", \"wan0\"]\nlocal_nets = [\"10.1.0.0/16\"]\nattach_mode = \"generic\"\nhost_capacity = 1024\n[blocks]\ndefault_ttl = \"10m\"\nallow = [\"10.1.0.1\"]\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.sensor.interfaces, vec!["lan0", "wan0"]);
        assert_eq!(config.sensor.attach_mode, AttachMode::Generic);
        assert_eq!(config.blocks.default_ttl.0, Duration::from_secs(600));
        assert_eq!(config.blocks.allow[0].to_string(), "10.1.0.1/32");
    }

    #[test]
    fn unknown_key_names_field_and_line() {
        let (line, field, message) = invalid("[sensor]\ninterfaces = []\nhost_capacty = 5\n");
        assert_eq!(line, 3);
        assert_eq!(field, "sensor.host_capacty");
        assert!(message.contains("unknown field"), "{message}");
    }

    #[test]
    fn bad_cidr_names_field_and_line() {
        let (line, field, message) = invalid("\n[sensor]\nlocal_nets = [\"10.0.0/8\"]\n");
        assert_eq!(line, 3);
        assert_eq!(field, "sensor.local_nets");
        assert!(message.contains("10.0.0/8"), "{message}");
    }

    #[test]
    fn wrong_type_names_field_and_line() {
        let (line, field, _) = invalid("[events]\nenabled = \"yes\"\n");
        assert_eq!((line, field.as_str()), (2, "events.enabled"));
    }

    #[test]
    fn impossible_host_counts_name_field_and_line() {
        let (line, field, message) =
            invalid("[site]\nmode = \"inline\"\nexpected_hosts = \"400-300\"\n");
        assert_eq!((line, field.as_str()), (3, "site.expected_hosts"));
        assert!(message.contains("lower bound is above"), "{message}");
        let (line, field, message) = invalid("[site]\nexpected_hosts = 0\n");
        assert_eq!((line, field.as_str()), (2, "site.expected_hosts"));
        assert!(message.contains("no host to protect"), "{message}");
    }

    #[test]
    fn unknown_attach_mode_is_refused() {
        let (line, field, _) = invalid("[sensor]\nattach_mode = \"fast\"\n");
        assert_eq!((line, field.as_str()), (2, "sensor.attach_mode"));
    }

    #[test]
    fn out_of_range_capacity_names_its_line() {
        let (line, field, message) = invalid("[sensor]\n\nhost_capacity = 8\n");
        assert_eq!((line, field.as_str()), (3, "sensor.host_capacity"));
        assert!(message.contains("64..=1048576"), "{message}");
    }

    #[test]
    fn default_ttl_longer_than_max_is_refused() {
        let (line, field, _) = invalid("[blocks]\nmax_ttl = \"1h\"\ndefault_ttl = \"2h\"\n");
        assert_eq!((line, field.as_str()), (3, "blocks.default_ttl"));
    }

    #[test]
    fn unknown_section_is_refused() {
        let (line, field, _) = invalid("[sensr]\ninterfaces = []\n");
        assert_eq!(line, 1);
        assert!(field.contains("sensr"), "{field}");
    }

    #[test]
    fn a_tunnel_listed_twice_is_refused() {
        let (line, field, message) =
            invalid("[sensor]\ninterfaces = []\n\ndecapsulate = [\"vxlan\", \"vxlan\"]\n");
        assert_eq!((line, field.as_str()), (4, "sensor.decapsulate"));
        assert!(message.contains("\"vxlan\" is listed twice"), "{message}");
    }

    #[test]
    fn duplicate_interface_is_refused() {
        let (line, field, message) = invalid("[sensor]\ninterfaces = [\"eth0\", \"eth0\"]\n");
        assert_eq!((line, field.as_str()), (2, "sensor.interfaces"));
        assert!(message.contains("twice"), "{message}");
    }
}
