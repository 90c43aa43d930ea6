//! Resource limits of one plugin instance as configured: linear memory, wall time per call
//! (which every blocking wait inside the call ends at, too) and optional fuel. One set of
//! limits for filters and sinks; only the default time limit differs, since a sink's call
//! includes its network round trips. The WebAssembly host enforces them.

use std::time::Duration;

use serde::Deserialize;

use super::units;

/// The limits of each instance of one plugin, with every default applied and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Most linear memory the instance may grow to.
    pub memory: u64,
    /// Longest wall time one call (one batch) may take.
    pub timeout: Duration,
    /// Fuel (instructions, roughly) per call, if metered.
    pub fuel: Option<u64>,
}

/// `limits:` of a filter or a sink as written in YAML; unset fields take the defaults of
/// the plugin's kind ([`LimitsConfig::resolve`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Most linear memory an instance may grow to (default 128MiB).
    #[serde(default, deserialize_with = "opt_bytes")]
    pub memory: Option<u64>,
    /// Longest wall time one call may take (default 1s for filters, 30s for sinks).
    #[serde(default, deserialize_with = "opt_duration")]
    pub timeout: Option<Duration>,
    /// Fuel per call; costs speed, so off by default.
    #[serde(default)]
    pub fuel: Option<u64>,
}

/// Largest linear memory a plugin may be allowed (`limits.memory` is checked against it).
pub const MAX_MEMORY: u64 = 4 << 30;

/// Linear memory an instance may use unless `limits.memory` says otherwise.
pub const DEFAULT_MEMORY: u64 = 128 << 20;

impl LimitsConfig {
    /// The limits with the defaults filled in (`default_timeout` is the kind's), or why
    /// they are out of range, naming the field.
    pub fn resolve(&self, default_timeout: Duration) -> Result<Limits, String> {
        let limits = Limits {
            memory: self.memory.unwrap_or(DEFAULT_MEMORY),
            timeout: self.timeout.unwrap_or(default_timeout),
            fuel: self.fuel,
        };
        if !(1 << 16..=MAX_MEMORY).contains(&limits.memory) {
            return Err(format!(
                "limits.memory must be between 64KiB and {}GiB",
                MAX_MEMORY >> 30
            ));
        }
        if limits.timeout.is_zero() {
            return Err("limits.timeout must be more than zero".into());
        }
        if limits.fuel == Some(0) {
            return Err("limits.fuel must be more than zero (leave it out to not meter)".into());
        }
        Ok(limits)
    }
}

fn opt_bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    units::bytes(d).map(Some)
}

fn opt_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    units::duration(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_depend_on_the_kind_and_ranges_are_checked() {
        let none = LimitsConfig::default();
        let filter = none.resolve(Duration::from_secs(1)).unwrap();
        assert_eq!(filter.memory, DEFAULT_MEMORY);
        assert_eq!(filter.timeout, Duration::from_secs(1));
        assert_eq!(
            none.resolve(Duration::from_secs(30))
                .unwrap()
                .timeout
                .as_secs(),
            30
        );
        let set: LimitsConfig =
            serde_yaml::from_str("{ memory: 32MiB, timeout: 200ms, fuel: 5 }").unwrap();
        let l = set.resolve(Duration::from_secs(30)).unwrap();
        assert_eq!(
            (l.memory, l.timeout, l.fuel),
            (32 << 20, Duration::from_millis(200), Some(5))
        );
        for bad in [
            "{ memory: 1KiB }",
            "{ memory: 5GiB }",
            "{ timeout: 0ms }",
            "{ fuel: 0 }",
        ] {
            let c: LimitsConfig = serde_yaml::from_str(bad).unwrap();
            assert!(c.resolve(Duration::from_secs(1)).is_err(), "{bad}");
        }
        assert!(serde_yaml::from_str::<LimitsConfig>("{ memroy: 1 }").is_err());
    }
}
