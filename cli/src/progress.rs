//! Node progress of a run on stderr: a spinner per running node on a terminal (indicatif),
//! plain lines otherwise (CI, pipes, files).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use wflow_engine::engine::{Event, Observer};

/// The observer for this process's stderr: spinners when it is a terminal, else lines.
pub fn observer() -> Box<dyn Observer> {
    if std::io::stderr().is_terminal() {
        Box::new(Spinners::default())
    } else {
        Box::new(Lines)
    }
}

/// The line an event ends with (a node's start only shows on the spinner).
fn line(e: &Event<'_>) -> String {
    match e {
        Event::Started { node } => format!(
            "  start  {} ({})",
            node.identifier.value,
            node.config.type_name()
        ),
        Event::Finished {
            node,
            result,
            elapsed,
            message,
        } => {
            let ms = elapsed.as_secs_f64() * 1000.0;
            match message {
                Some(m) => format!("  {result:<8}{} ({ms:.1} ms): {m}", node.identifier.value),
                None => format!("  {result:<8}{} ({ms:.1} ms)", node.identifier.value),
            }
        }
        Event::Waiting { node, reason } => format!("  WAIT   {}: {reason}", node.identifier.value),
    }
}

/// Prints node progress as plain lines.
pub struct Lines;

impl Observer for Lines {
    fn event(&self, e: &Event<'_>) {
        eprintln!("{}", line(e));
    }
}

/// A spinner while a node runs, replaced by its result line when it ends.
#[derive(Default)]
struct Spinners {
    running: Mutex<Option<ProgressBar>>,
}

impl Observer for Spinners {
    fn event(&self, e: &Event<'_>) {
        let Ok(mut running) = self.running.lock() else {
            return;
        };
        if let Some(bar) = running.take() {
            bar.finish_and_clear();
        }
        match e {
            Event::Started { node } => {
                let bar = ProgressBar::new_spinner().with_message(format!(
                    "{} ({})",
                    node.identifier.value,
                    node.config.type_name()
                ));
                if let Ok(style) = ProgressStyle::with_template("  {spinner} {msg} {elapsed}") {
                    bar.set_style(style);
                }
                bar.enable_steady_tick(Duration::from_millis(100));
                *running = Some(bar);
            }
            other => eprintln!("{}", line(other)),
        }
    }
}
