//! The state of `logcatch top` between two frames: the last two fetches, whether the agent
//! answers, the order, which screen is shown and what is selected; and what a key does to it.
//! Nothing here draws or does I/O.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::doc::{Doc, Pipeline};
use super::model::{
    self, ComponentRow, PipelineRow, Sample, SortBy, component_rows, pipeline_rows, sort_rows,
};
use crate::console::client::ApiRefused;

/// Whether the agent answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// No answer yet.
    Connecting,
    /// The last fetch succeeded.
    Connected,
    /// The last fetch failed (the data shown, if any, is older); fetches go on.
    Failed {
        /// Why, on one line.
        reason: String,
        /// The agent answered with an error (e.g. 401) rather than not at all.
        refused: bool,
    },
}

/// Which table is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    /// Every pipeline.
    Pipelines,
    /// The components of the named pipeline.
    Components(String),
}

/// Everything a frame shows.
#[derive(Debug)]
pub struct App {
    /// The agent's API base URL.
    pub agent: String,
    /// How often it is fetched.
    pub interval: Duration,
    /// Whether it answers.
    pub connection: Connection,
    /// The order of the pipelines table.
    pub sort: SortBy,
    /// The table shown.
    pub screen: Screen,
    /// Set by `q` or Ctrl-C.
    pub quit: bool,
    prev: Option<Sample>,
    cur: Option<Sample>,
    /// The selected pipeline, by name (so a new order keeps it selected).
    selected: Option<String>,
    /// The selection was moved by a key: it stays on its pipeline. Until then it follows the
    /// first row.
    pinned: bool,
    /// The selected row of the components table.
    component: usize,
}

impl App {
    /// A view of `agent`, fetched every `interval`, before any answer.
    pub fn new(agent: &str, interval: Duration) -> App {
        App {
            agent: agent.to_string(),
            interval,
            connection: Connection::Connecting,
            sort: SortBy::default(),
            screen: Screen::Pipelines,
            quit: false,
            prev: None,
            cur: None,
            selected: None,
            pinned: false,
            component: 0,
        }
    }

    /// Takes the result of a fetch that ended at `at`: a document becomes the current sample
    /// (the one before it the base of the rates); an error is shown and the data kept.
    pub fn on_fetch(&mut self, at: Instant, result: anyhow::Result<serde_json::Value>) {
        let doc = result.and_then(|value| {
            serde_json::from_value::<Doc>(value).map_err(|e| {
                anyhow::anyhow!("{}/pipelines: not a pipelines document: {e}", self.agent)
            })
        });
        match doc {
            Ok(doc) => {
                self.prev = self.cur.take();
                self.cur = Some(Sample { at, doc });
                self.connection = Connection::Connected;
                self.keep_selection();
            }
            Err(e) => {
                self.connection = Connection::Failed {
                    refused: e.downcast_ref::<ApiRefused>().is_some(),
                    reason: model::describe_error(&e),
                };
            }
        }
    }

    /// Does what `key` asks.
    pub fn on_key(&mut self, key: KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c') if ctrl => self.quit = true,
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Up | KeyCode::Char('k') => self.step(-1),
            KeyCode::Down | KeyCode::Char('j') => self.step(1),
            KeyCode::Home | KeyCode::Char('g') => self.step(isize::MIN),
            KeyCode::End | KeyCode::Char('G') => self.step(isize::MAX),
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => self.open(),
            KeyCode::Esc | KeyCode::Left | KeyCode::Backspace | KeyCode::Char('h') => {
                self.screen = Screen::Pipelines;
            }
            KeyCode::Char('s') => {
                self.sort = self.sort.next();
                self.keep_selection();
            }
            _ => {}
        }
    }

    /// The pipelines, with rates, in the chosen order.
    pub fn rows(&self) -> Vec<PipelineRow> {
        let Some(cur) = &self.cur else {
            return Vec::new();
        };
        let mut rows = pipeline_rows(self.prev.as_ref(), cur);
        sort_rows(&mut rows, self.sort);
        rows
    }

    /// Where the selected pipeline is in `rows`.
    pub fn selected_index(&self, rows: &[PipelineRow]) -> Option<usize> {
        let name = self.selected.as_deref()?;
        rows.iter().position(|r| r.name == name)
    }

    /// The selected row of the components table.
    pub fn component_index(&self) -> usize {
        self.component
    }

    /// The components of pipeline `name` with rates; `None` if the agent no longer has it
    /// (or nothing was fetched yet).
    pub fn components(&self, name: &str) -> Option<Vec<ComponentRow>> {
        component_rows(self.prev.as_ref(), self.cur.as_ref()?, name)
    }

    /// Pipeline `name` as last fetched.
    pub fn pipeline(&self, name: &str) -> Option<&Pipeline> {
        self.doc()?.pipelines.get(name)
    }

    /// The last document fetched.
    pub fn doc(&self) -> Option<&Doc> {
        self.cur.as_ref().map(|s| &s.doc)
    }

    /// How long ago, as of `now`, the data shown was fetched.
    pub fn age(&self, now: Instant) -> Option<Duration> {
        self.cur
            .as_ref()
            .map(|s| now.saturating_duration_since(s.at))
    }

    /// Selects the first pipeline when none (or a vanished one) is selected, or no key
    /// moved the selection yet.
    fn keep_selection(&mut self) {
        let rows = self.rows();
        if !self.pinned || self.selected_index(&rows).is_none() {
            self.selected = rows.first().map(|r| r.name.clone());
        }
    }

    /// Moves the selection `by` rows (saturating at either end).
    fn step(&mut self, by: isize) {
        match &self.screen {
            Screen::Pipelines => {
                let rows = self.rows();
                if rows.is_empty() {
                    return;
                }
                let at = self.selected_index(&rows).unwrap_or(0);
                let to = at.saturating_add_signed(by).min(rows.len() - 1);
                self.selected = Some(rows[to].name.clone());
                self.pinned = true;
            }
            Screen::Components(name) => {
                let count = self.components(name).map_or(0, |c| c.len());
                self.component = self
                    .component
                    .saturating_add_signed(by)
                    .min(count.saturating_sub(1));
            }
        }
    }

    /// Opens the selected pipeline's components.
    fn open(&mut self) {
        if self.screen != Screen::Pipelines {
            return;
        }
        let rows = self.rows();
        if let Some(i) = self.selected_index(&rows) {
            self.screen = Screen::Components(rows[i].name.clone());
            self.component = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    /// A document with pipelines `(name, events so far)`, each a source and a sink.
    fn doc(pipelines: &[(&str, u64)]) -> serde_json::Value {
        let map: serde_json::Map<String, serde_json::Value> = pipelines
            .iter()
            .map(|&(name, n)| {
                let comps = json!([
                    {"id": "sources[0]", "role": "source", "kind": "demo", "events_out": n},
                    {"id": "sinks[0]", "role": "sink", "kind": "blackhole", "events_out": n}
                ]);
                (
                    name.into(),
                    json!({"state": "running", "components": comps}),
                )
            })
            .collect();
        json!({ "pipelines": map })
    }

    /// An app that fetched `first` then, a second later, `second`.
    fn app(first: &[(&str, u64)], second: &[(&str, u64)]) -> App {
        let mut app = App::new("http://127.0.0.1:9420", Duration::from_secs(1));
        let t0 = Instant::now();
        app.on_fetch(t0, Ok(doc(first)));
        app.on_fetch(t0 + Duration::from_secs(1), Ok(doc(second)));
        app
    }

    fn names(app: &App) -> Vec<String> {
        app.rows().into_iter().map(|r| r.name).collect()
    }

    fn selected(app: &App) -> String {
        let rows = app.rows();
        rows[app.selected_index(&rows).unwrap()].name.clone()
    }

    #[test]
    fn busiest_first_and_the_first_row_is_selected() {
        let app = app(
            &[("a", 0), ("b", 0), ("c", 0)],
            &[("a", 5), ("b", 50), ("c", 5)],
        );
        assert_eq!(app.connection, Connection::Connected);
        assert_eq!(names(&app), ["b", "a", "c"]);
        assert_eq!(selected(&app), "b");
        assert_eq!(app.rows()[0].in_rate, Some(50.0));
    }

    #[test]
    fn an_unmoved_selection_follows_the_first_row_a_moved_one_its_pipeline() {
        let mut app = app(&[("a", 0), ("b", 0)], &[("a", 5), ("b", 50)]);
        assert_eq!(selected(&app), "b");
        let t = Instant::now() + Duration::from_secs(2);
        app.on_fetch(t, Ok(doc(&[("a", 500), ("b", 51)])));
        assert_eq!(selected(&app), "a", "a is the busiest now");
        app.on_key(key(KeyCode::Down));
        assert_eq!(selected(&app), "b");
        app.on_fetch(
            t + Duration::from_secs(1),
            Ok(doc(&[("a", 501), ("b", 500)])),
        );
        assert_eq!(names(&app), ["b", "a"]);
        app.on_fetch(
            t + Duration::from_secs(2),
            Ok(doc(&[("a", 1000), ("b", 501)])),
        );
        assert_eq!(names(&app), ["a", "b"]);
        assert_eq!(selected(&app), "b", "the moved selection stays on b");
    }

    #[test]
    fn keys_move_open_go_back_sort_and_quit() {
        let mut app = app(
            &[("a", 0), ("b", 0), ("c", 0)],
            &[("a", 5), ("b", 50), ("c", 5)],
        );
        app.on_key(key(KeyCode::Down));
        assert_eq!(selected(&app), "a");
        app.on_key(key(KeyCode::Char('j')));
        app.on_key(key(KeyCode::Down));
        assert_eq!(selected(&app), "c", "stops at the last row");
        app.on_key(key(KeyCode::Char('k')));
        assert_eq!(selected(&app), "a");

        app.on_key(key(KeyCode::Char('s')));
        assert_eq!(app.sort, SortBy::Name);
        assert_eq!(names(&app), ["a", "b", "c"]);
        assert_eq!(selected(&app), "a", "the selection follows the pipeline");

        app.on_key(key(KeyCode::Enter));
        assert_eq!(app.screen, Screen::Components("a".into()));
        let comps = app.components("a").unwrap();
        assert_eq!(comps.len(), 2);
        app.on_key(key(KeyCode::Down));
        app.on_key(key(KeyCode::Down));
        assert_eq!(app.component_index(), 1);
        app.on_key(key(KeyCode::Esc));
        assert_eq!(app.screen, Screen::Pipelines);
        app.on_key(key(KeyCode::Right));
        assert_eq!(app.screen, Screen::Components("a".into()));
        assert_eq!(app.component_index(), 0);
        app.on_key(key(KeyCode::Left));
        assert_eq!(app.screen, Screen::Pipelines);

        assert!(!app.quit);
        app.on_key(key(KeyCode::Char('q')));
        assert!(app.quit);
        let mut other = App::new("http://x", Duration::from_secs(1));
        other.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert!(other.quit);
    }

    #[test]
    fn a_failed_fetch_keeps_the_data_and_says_why() {
        let mut app = app(&[("a", 0)], &[("a", 10)]);
        app.on_fetch(
            Instant::now(),
            Err(anyhow::anyhow!("http://x: cannot reach")),
        );
        assert_eq!(
            app.connection,
            Connection::Failed {
                reason: "http://x: cannot reach".into(),
                refused: false
            }
        );
        assert_eq!(names(&app), ["a"]);
        assert_eq!(app.rows()[0].in_rate, Some(10.0));

        let refused = ApiRefused {
            url: "http://x/pipelines".into(),
            status: reqwest::StatusCode::UNAUTHORIZED,
            message: "needs a token".into(),
        };
        app.on_fetch(Instant::now(), Err(refused.into()));
        let Connection::Failed { reason, refused } = &app.connection else {
            panic!("{:?}", app.connection)
        };
        assert!(*refused);
        assert_eq!(
            reason,
            "http://x/pipelines: 401 Unauthorized: needs a token"
        );

        app.on_fetch(Instant::now(), Ok(json!({"pipelines": 3})));
        let Connection::Failed { reason, .. } = &app.connection else {
            panic!("{:?}", app.connection)
        };
        assert!(reason.contains("not a pipelines document"), "{reason}");
        assert_eq!(names(&app), ["a"]);
    }

    #[test]
    fn a_removed_pipeline_moves_the_selection_and_empties_its_screen() {
        let mut app = app(&[("a", 0), ("b", 0)], &[("a", 10), ("b", 5)]);
        app.on_key(key(KeyCode::Enter));
        assert_eq!(app.screen, Screen::Components("a".into()));
        app.on_fetch(Instant::now(), Ok(doc(&[("b", 6)])));
        assert!(app.components("a").is_none());
        assert_eq!(selected(&app), "b");
    }

    #[test]
    fn keys_before_any_data_do_nothing_harmful() {
        let mut app = App::new("http://x", Duration::from_secs(1));
        for code in [KeyCode::Down, KeyCode::Up, KeyCode::Enter, KeyCode::End] {
            app.on_key(key(code));
        }
        assert_eq!(app.screen, Screen::Pipelines);
        assert!(app.rows().is_empty());
        assert_eq!(app.connection, Connection::Connecting);
    }
}
