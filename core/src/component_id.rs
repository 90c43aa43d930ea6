//! A component's place in its pipeline, typed: `sources[0]`, `filters[1]`, `sinks[0]` are
//! formatted from it in one place and never parsed back.

use std::fmt;

/// Which part of a pipeline a component is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads events in.
    Source,
    /// A WebAssembly filter of the chain.
    Filter,
    /// Delivers events out.
    Sink,
}

impl Role {
    /// `source`, `filter` or `sink`, as the API and metrics name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Filter => "filter",
            Role::Sink => "sink",
        }
    }

    /// The config list it is declared in: `sources`, `filters` or `sinks`.
    pub fn list(self) -> &'static str {
        match self {
            Role::Source => "sources",
            Role::Filter => "filters",
            Role::Sink => "sinks",
        }
    }
}

/// A component of a pipeline: its role and its position in that role's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComponentId {
    /// Source, filter or sink.
    pub role: Role,
    /// Its position in the pipeline's list of that role, from 0.
    pub index: usize,
}

impl ComponentId {
    /// Source number `index`.
    pub fn source(index: usize) -> Self {
        ComponentId {
            role: Role::Source,
            index,
        }
    }

    /// Filter number `index`.
    pub fn filter(index: usize) -> Self {
        ComponentId {
            role: Role::Filter,
            index,
        }
    }

    /// Sink number `index`.
    pub fn sink(index: usize) -> Self {
        ComponentId {
            role: Role::Sink,
            index,
        }
    }
}

impl fmt::Display for ComponentId {
    /// As the config path names it: `sources[0]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.role.list(), self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_the_config_path() {
        assert_eq!(ComponentId::source(0).to_string(), "sources[0]");
        assert_eq!(ComponentId::filter(3).to_string(), "filters[3]");
        assert_eq!(ComponentId::sink(1).to_string(), "sinks[1]");
        assert_eq!(ComponentId::filter(3).role.as_str(), "filter");
    }

    #[test]
    fn orders_sources_then_filters_then_sinks() {
        let mut ids = [
            ComponentId::sink(0),
            ComponentId::filter(1),
            ComponentId::source(2),
            ComponentId::filter(0),
        ];
        ids.sort();
        let shown: Vec<_> = ids.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["sources[2]", "filters[0]", "filters[1]", "sinks[0]"]
        );
    }
}
