//! Maps field paths (`pipelines.web.sources[0].include`) to their line and column in the YAML
//! text, so errors found after parsing (by plugins, by validation) still point into the file.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Field path → (line, column), both 1-based, of the key (or sequence item) that starts it.
#[derive(Debug, Default, Clone)]
pub struct Locator {
    places: HashMap<String, (usize, usize)>,
    duplicates: Vec<Duplicate>,
}

/// A key given twice in one mapping (YAML parsers keep the last one silently).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The field path of the key.
    pub path: String,
    /// Where it is first.
    pub first: (usize, usize),
    /// Where it is again.
    pub again: (usize, usize),
}

impl Locator {
    /// Indexes `text`; a text that does not parse yields an empty index (the parser's own
    /// error is reported instead).
    pub fn new(text: &str) -> Locator {
        let mut walker = Walker::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut walker, false).is_err() {
            return Locator::default();
        }
        Locator {
            places: walker.places,
            duplicates: walker.duplicates,
        }
    }

    /// The keys given twice in one mapping, in the order found.
    pub fn duplicates(&self) -> &[Duplicate] {
        &self.duplicates
    }

    /// Where `path` is, or its closest located ancestor.
    pub fn find(&self, path: &str) -> Option<(usize, usize)> {
        let mut p = path;
        loop {
            if let Some(&at) = self.places.get(p) {
                return Some(at);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, index: usize },
}

#[derive(Default)]
struct Walker {
    places: HashMap<String, (usize, usize)>,
    duplicates: Vec<Duplicate>,
    stack: Vec<Frame>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl Walker {
    /// Called for every node: returns the path of a value node, or records a map key.
    fn node(&mut self, mark: Marker, key_scalar: Option<&str>) -> Option<String> {
        let at = (mark.line(), mark.col() + 1);
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, index }) => {
                let p = format!("{path}[{index}]");
                *index += 1;
                self.places.entry(p.clone()).or_insert(at);
                Some(p)
            }
            Some(Frame::Map { path, key }) => match key.take() {
                Some(k) => Some(join(path, &k)),
                None => {
                    let k = key_scalar.unwrap_or("?").to_owned();
                    let p = join(path, &k);
                    match self.places.get(&p) {
                        // Paths are unique per node, so a key seen before in this mapping.
                        Some(&first) if key_scalar.is_some() && !path.contains('?') => {
                            self.duplicates.push(Duplicate {
                                path: p,
                                first,
                                again: at,
                            })
                        }
                        Some(_) => {}
                        None => {
                            self.places.insert(p, at);
                        }
                    }
                    // A block mapping's own mark sits after its first key: the key is the
                    // better place for the mapping (e.g. a `- type: file` item).
                    if let Some(start) = self.places.get_mut(path.as_str())
                        && *start > at
                    {
                        *start = at;
                    }
                    *key = Some(k);
                    None
                }
            },
        }
    }
}

impl MarkedEventReceiver for Walker {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, ..) => {
                self.node(mark, Some(&value));
            }
            Event::Alias(_) => {
                self.node(mark, None);
            }
            Event::MappingStart(..) => {
                if let Some(path) = self.node(mark, None) {
                    self.stack.push(Frame::Map { path, key: None });
                } else {
                    // A complex key: index its contents under a placeholder.
                    self.stack.push(Frame::Map {
                        path: "?".into(),
                        key: None,
                    });
                }
            }
            Event::SequenceStart(..) => {
                let path = self.node(mark, None).unwrap_or_else(|| "?".into());
                self.stack.push(Frame::Seq { path, index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_items_and_ancestors() {
        let text = "a: 1\npipelines:\n  web:\n    sources:\n      - type: file\n        include: [x, y]\n      - {type: demo}\n";
        let l = Locator::new(text);
        assert_eq!(l.find("a"), Some((1, 1)));
        assert_eq!(l.find("pipelines.web"), Some((3, 3)));
        assert_eq!(l.find("pipelines.web.sources[0]"), Some((5, 9)));
        assert_eq!(l.find("pipelines.web.sources[0].include"), Some((6, 9)));
        assert_eq!(l.find("pipelines.web.sources[0].include[1]"), Some((6, 22)));
        assert_eq!(l.find("pipelines.web.sources[1].type"), Some((7, 10)));
        assert_eq!(l.find("pipelines.web.sources[1].nope"), Some((7, 9)));
        assert!(l.duplicates().is_empty());
    }

    #[test]
    fn a_key_given_twice_in_one_mapping_is_found_with_both_places() {
        let text = "pipelines:\n  web: {a: 1}\n  api: {a: 1}\n  web: {b: 2}\n";
        let l = Locator::new(text);
        assert_eq!(
            l.duplicates(),
            [Duplicate {
                path: "pipelines.web".into(),
                first: (2, 3),
                again: (4, 3)
            }]
        );
    }
}
