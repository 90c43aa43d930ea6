//! Draws one frame of `logcatch top` from its [`App`]: a header (the agent, whether it
//! answers), the pipelines' or one pipeline's components' table, and a footer (the selected
//! pipeline's last error or details, the last reload, the keys).

use std::time::{Instant, SystemTime};

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};

use super::app::{App, Connection, Screen};
use super::model::{fmt_ago, fmt_count, fmt_rate, fmt_seconds, one_line};

/// The most lines a wrapped message (an error) takes.
const MAX_MESSAGE_LINES: u16 = 3;

/// The keys, on the last line.
const HELP: &str = "↑↓/jk select   Enter/→ components   Esc/← back   s sort   q quit";

/// Draws the whole frame.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let header = header(app, Instant::now());
    let footer = footer(app, SystemTime::now());
    let header_height = height(&header, area.width);
    let footer_height = height(&footer, area.width);
    let [top, body, bottom, keys] = Layout::vertical([
        Constraint::Length(header_height),
        Constraint::Min(3),
        Constraint::Length(footer_height),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(header).wrap(Wrap { trim: false }), top);
    match &app.screen {
        Screen::Pipelines => pipelines(frame, app, body),
        Screen::Components(name) => components(frame, app, name, body),
    }
    frame.render_widget(Paragraph::new(footer).wrap(Wrap { trim: false }), bottom);
    frame.render_widget(Paragraph::new(HELP).dim(), keys);
}

/// How many rows `lines` take wrapped at `width` (each at most [`MAX_MESSAGE_LINES`]).
fn height(lines: &[Line], width: u16) -> u16 {
    let width = usize::from(width.max(1));
    lines
        .iter()
        .map(|l| (l.width().div_ceil(width).max(1) as u16).min(MAX_MESSAGE_LINES))
        .sum()
}

/// The agent, the view's settings, and whether the agent answers.
fn header(app: &App, now: Instant) -> Vec<Line<'static>> {
    let count = app.doc().map_or(0, |d| d.pipelines.len());
    let title = Line::from(vec![
        Span::from(" logcatch top ").bold().reversed(),
        Span::from(format!("  {}", app.agent)).bold(),
        Span::from(format!(
            "   {count} pipeline(s)   sort: {}   every {}",
            app.sort.label(),
            humantime::format_duration(app.interval)
        )),
    ]);
    let age = app.age(now).map(|a| format!("{:.1}s ago", a.as_secs_f64()));
    let status = match &app.connection {
        Connection::Connecting => Line::from("connecting…").fg(Color::Yellow),
        Connection::Connected => {
            Line::from(format!("connected, updated {}", age.unwrap_or_default())).fg(Color::Green)
        }
        Connection::Failed { reason, refused } => {
            let what = if *refused { "refused" } else { "unreachable" };
            let kept = match age {
                Some(age) => format!(" (retrying; showing the data of {age})"),
                None => " (retrying)".into(),
            };
            Line::from(format!("{what}: {reason}{kept}")).fg(Color::Red)
        }
    };
    vec![title, status]
}

/// The selected pipeline's details or last error, and the last reload.
fn footer(app: &App, now: SystemTime) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let rows = app.rows();
    let selected = match &app.screen {
        Screen::Pipelines => app.selected_index(&rows).map(|i| rows[i].name.clone()),
        Screen::Components(name) => Some(name.clone()),
    };
    if let Some(name) = selected
        && let Some(p) = app.pipeline(&name)
    {
        if let Screen::Components(_) = app.screen {
            let mut detail = format!(
                "{name}: {}, started {}, restarts {}, checkpoint lag {}, last reload {}",
                p.state,
                fmt_ago(&p.started_at, now),
                p.restarts,
                fmt_seconds(p.checkpoint_lag_seconds),
                p.last_reload
                    .as_deref()
                    .map_or("none".into(), |t| fmt_ago(t, now)),
            );
            if let Some(origin) = &p.origin {
                detail.push_str(&format!(", from {origin}"));
            }
            lines.push(Line::from(detail));
        }
        lines.push(match &p.last_error {
            Some(e) => Line::from(format!("{name}: last error: {}", one_line(e))).fg(Color::Red),
            None => Line::from(format!("{name}: no error")).dim(),
        });
    }
    if let Some(doc) = app.doc() {
        let counts = format!(
            "   (reloads: {} applied, {} refused)",
            doc.reloads.applied, doc.reloads.refused
        );
        lines.push(match &doc.last_reload {
            None => Line::from(format!("last reload: none since the start{counts}")).dim(),
            Some(r) if r.ok => {
                let mut changes = Vec::new();
                for (what, names) in [
                    ("added", &r.added),
                    ("changed", &r.changed),
                    ("removed", &r.removed),
                ] {
                    if !names.is_empty() {
                        changes.push(format!("{what} {}", names.join(", ")));
                    }
                }
                if changes.is_empty() {
                    changes.push("nothing changed".into());
                }
                Line::from(format!(
                    "last reload {} ({}): ok, {}{counts}",
                    fmt_ago(&r.at, now),
                    r.trigger,
                    changes.join("; ")
                ))
                .fg(Color::Green)
            }
            Some(r) => Line::from(format!(
                "last reload {} ({}): refused: {}{counts}",
                fmt_ago(&r.at, now),
                r.trigger,
                one_line(r.error.as_deref().unwrap_or("no reason given"))
            ))
            .fg(Color::Red),
        });
    }
    lines
}

/// A table whose columns are `(heading, width, right-aligned)`, rows of cell texts, with
/// row `selected` highlighted.
fn table(
    frame: &mut Frame,
    area: Rect,
    title: String,
    columns: &[(&str, Constraint, bool)],
    rows: Vec<(Vec<String>, Style)>,
    selected: Option<usize>,
) {
    let align = |text: String, right: bool| {
        let line = Line::from(text);
        Cell::from(if right {
            line.alignment(Alignment::Right)
        } else {
            line
        })
    };
    let header = Row::new(
        columns
            .iter()
            .map(|&(h, _, right)| align(h.to_string(), right)),
    )
    .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    let body = rows.into_iter().map(|(cells, style)| {
        Row::new(
            cells
                .into_iter()
                .zip(columns)
                .map(|(text, &(_, _, right))| align(text, right)),
        )
        .style(style)
    });
    let widths: Vec<Constraint> = columns.iter().map(|&(_, w, _)| w).collect();
    let widget = Table::new(body, widths)
        .header(header)
        .block(Block::new().borders(Borders::TOP).title(title.bold()))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("▶ ");
    let mut state = TableState::new().with_selected(selected);
    frame.render_stateful_widget(widget, area, &mut state);
}

/// A placeholder in the table's place.
fn message(frame: &mut Frame, area: Rect, text: String) {
    frame.render_widget(
        Paragraph::new(text)
            .block(Block::new().borders(Borders::TOP))
            .wrap(Wrap { trim: false })
            .italic(),
        area,
    );
}

/// The colour of a state.
fn state_style(state: &str) -> Style {
    match state {
        "running" => Style::new().fg(Color::Green),
        "blocked" | "restarting" => Style::new().fg(Color::Yellow),
        "failed" => Style::new().fg(Color::Red),
        _ => Style::new().fg(Color::Gray),
    }
}

/// The colour of a row: its state's, red when it has errors.
fn row_style(state: &str, errors: u64) -> Style {
    if errors > 0 && state == "running" {
        Style::new().fg(Color::LightRed)
    } else {
        state_style(state)
    }
}

/// The pipelines table.
fn pipelines(frame: &mut Frame, app: &App, area: Rect) {
    let rows = app.rows();
    if rows.is_empty() {
        let text = match app.doc() {
            Some(_) => "the agent runs no pipelines".to_string(),
            None => format!("waiting for {}…", app.agent),
        };
        return message(frame, area, text);
    }
    let n = |w: u16| Constraint::Length(w);
    let columns = [
        ("PIPELINE", Constraint::Min(12), false),
        ("STATE", n(10), false),
        ("IN/S", n(9), true),
        ("OUT/S", n(9), true),
        ("DROPPED", n(9), true),
        ("DEAD-LETTERED", n(13), true),
        ("ERRORS", n(8), true),
        ("RESTARTS", n(8), true),
        ("CKPT LAG", n(8), true),
        ("LAST RELOAD", n(11), true),
    ];
    let now = SystemTime::now();
    let selected = app.selected_index(&rows);
    let cells = rows
        .into_iter()
        .map(|r| {
            let style = row_style(&r.state, r.errors);
            let cells = vec![
                r.name,
                r.state,
                fmt_rate(r.in_rate),
                fmt_rate(r.out_rate),
                fmt_count(r.dropped),
                fmt_count(r.dead_lettered),
                fmt_count(r.errors),
                fmt_count(r.restarts),
                fmt_seconds(r.checkpoint_lag),
                r.last_reload.map_or("-".into(), |t| fmt_ago(&t, now)),
            ];
            (cells, style)
        })
        .collect();
    let title = format!(" pipelines, by {} ", app.sort.label());
    table(frame, area, title, &columns, cells, selected);
}

/// The components table of pipeline `name`.
fn components(frame: &mut Frame, app: &App, name: &str, area: Rect) {
    let Some(rows) = app.components(name) else {
        let text = match app.doc() {
            Some(_) => format!("the agent no longer runs pipeline {name} (Esc: back)"),
            None => format!("waiting for {}…", app.agent),
        };
        return message(frame, area, text);
    };
    let n = |w: u16| Constraint::Length(w);
    let columns = [
        ("ID", n(12), false),
        ("KIND", Constraint::Min(10), false),
        ("STATE", n(10), false),
        ("IN/S", n(9), true),
        ("OUT/S", n(9), true),
        ("DROPPED", n(9), true),
        ("DEAD-LETTERED", n(13), true),
        ("ERRORS", n(8), true),
        ("RESTARTS", n(8), true),
        ("PLUGIN", n(16), false),
        ("CALL MS/S", n(9), true),
    ];
    let cells = rows
        .into_iter()
        .map(|c| {
            let style = row_style(&c.state, c.errors);
            let call = match (&c.plugin_hash, c.call_ms_per_s) {
                (None, _) => "".into(),
                (Some(_), ms) => fmt_rate(ms),
            };
            let cells = vec![
                c.id,
                c.kind,
                c.state,
                fmt_rate(c.in_rate),
                fmt_rate(c.out_rate),
                fmt_count(c.dropped),
                fmt_count(c.dead_lettered),
                fmt_count(c.errors),
                fmt_count(c.restarts),
                c.plugin_hash.unwrap_or_default(),
                call,
            ];
            (cells, style)
        })
        .collect();
    let title = format!(" {name}: components ");
    table(
        frame,
        area,
        title,
        &columns,
        cells,
        Some(app.component_index()),
    );
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use serde_json::json;

    use super::*;

    /// The text of a frame of `app` drawn on a `width` × 30 screen, line by line.
    fn screen(app: &App, width: u16) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(width, 30)).unwrap();
        terminal.draw(|f| draw(f, app)).unwrap();
        let buffer = terminal.backend().buffer();
        (0..buffer.area.height)
            .map(|y| {
                (0..buffer.area.width)
                    .map(|x| buffer[(x, y)].symbol())
                    .collect::<String>()
            })
            .collect()
    }

    fn doc(fast: u64, slow: u64) -> serde_json::Value {
        let pipeline = |n: u64, error: Option<&str>| {
            json!({
                "state": "running", "restarts": 1, "last_error": error,
                "started_at": "2026-01-01T00:00:00.000Z", "checkpoint_lag_seconds": 0.5,
                "components": [
                    {"id": "sources[0]", "role": "source", "kind": "demo", "state": "running",
                     "events_in": n, "events_out": n},
                    {"id": "filters[0]", "role": "filter", "kind": "redact", "state": "running",
                     "events_in": n, "events_out": n, "call_seconds": n as f64 / 1e4,
                     "plugin": {"path": "r.wasm", "hash": "00112233aabbccdd"}},
                    {"id": "sinks[0]", "role": "sink", "kind": "blackhole", "state": "blocked",
                     "events_in": n, "events_out": n}
                ]
            })
        };
        json!({
            "reloads": {"applied": 0, "refused": 1},
            "last_reload": {"at": "2026-01-01T00:00:00.000Z", "trigger": "SIGHUP", "ok": false,
                            "error": "logcatch.yaml:3:5: pipelines.x: bad"},
            "pipelines": {"fast": pipeline(fast, None), "slow": pipeline(slow, Some("boom"))}
        })
    }

    fn app() -> App {
        let mut app = App::new("http://127.0.0.1:9420", Duration::from_secs(1));
        let t0 = Instant::now();
        app.on_fetch(t0, Ok(doc(0, 0)));
        app.on_fetch(t0 + Duration::from_secs(2), Ok(doc(4000, 20)));
        app
    }

    fn find<'a>(lines: &'a [String], text: &str) -> &'a str {
        lines
            .iter()
            .find(|l| l.contains(text))
            .unwrap_or_else(|| panic!("no {text:?} in\n{}", lines.join("\n")))
    }

    #[test]
    fn the_pipelines_table_shows_rates_busiest_first() {
        let lines = screen(&app(), 140);
        assert!(find(&lines, "logcatch top").contains("http://127.0.0.1:9420"));
        assert!(find(&lines, "connected, updated").contains("ago"));
        let fast = lines.iter().position(|l| l.contains("fast ")).unwrap();
        let slow = lines.iter().position(|l| l.contains("slow ")).unwrap();
        assert!(fast < slow, "{lines:#?}");
        let words: Vec<&str> = lines[fast].split_whitespace().collect();
        assert_eq!(
            words[..5],
            ["▶", "fast", "running", "2.00k", "2.00k"],
            "{lines:#?}"
        );
        let words: Vec<&str> = lines[slow].split_whitespace().collect();
        assert_eq!(
            words[..4],
            ["slow", "running", "10.0", "10.0"],
            "{lines:#?}"
        );
        assert!(lines[fast].contains("0.50s"), "{}", lines[fast]);
        find(&lines, "fast: no error");
        assert!(
            find(&lines, "last reload").contains("(SIGHUP): refused: logcatch.yaml:3:5"),
            "{lines:#?}"
        );
        find(&lines, "q quit");
    }

    #[test]
    fn the_components_table_shows_each_with_its_plugin() {
        let mut app = app();
        app.on_key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE));
        app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        let lines = screen(&app, 140);
        find(&lines, "slow: components");
        let source: Vec<&str> = find(&lines, "sources[0]").split_whitespace().collect();
        assert_eq!(
            source[..6],
            ["▶", "sources[0]", "demo", "running", "10.0", "10.0"]
        );
        let filter = find(&lines, "filters[0]");
        assert!(filter.contains("00112233aabbccdd"), "{filter}");
        assert!(
            filter.trim_end().ends_with("1.0"),
            "1 ms/s of calls: {filter}"
        );
        assert!(find(&lines, "sinks[0]").contains("blocked"));
        assert!(find(&lines, "slow: running").contains("restarts 1"));
        assert!(find(&lines, "slow: last error").contains("boom"));
    }

    #[test]
    fn a_failure_is_shown_with_the_data_kept() {
        let mut app = app();
        app.on_fetch(
            Instant::now(),
            Err(anyhow::anyhow!(
                "http://127.0.0.1:9420: cannot reach the agent"
            )),
        );
        let lines = screen(&app, 140);
        assert!(
            find(
                &lines,
                "unreachable: http://127.0.0.1:9420: cannot reach the agent"
            )
            .contains("retrying"),
            "{lines:#?}"
        );
        find(&lines, "fast ");

        let waiting = App::new("http://h:1", Duration::from_secs(1));
        let lines = screen(&waiting, 80);
        find(&lines, "connecting…");
        find(&lines, "waiting for http://h:1");
    }

    #[test]
    fn a_long_error_wraps_instead_of_being_cut() {
        let mut app = App::new("http://h:1", Duration::from_secs(1));
        let reason = format!("{} END", "x".repeat(100));
        app.on_fetch(Instant::now(), Err(anyhow::anyhow!(reason)));
        let lines = screen(&app, 60);
        find(&lines, "END");
    }
}
