//! The terminal loop: the console drawn in the terminal, a refresh every second, keys in
//! between; the terminal restored on exit and on panic.

use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event};

use crate::{render, App, Transport};

/// How often the console asks the relay for its status.
const REFRESH: Duration = Duration::from_secs(1);

/// The terminal loop: refresh every second, keys in between, until `q`.
pub fn run(mut api: impl Transport) -> std::io::Result<()> {
    let colour = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut app = App::new(colour);
    app.refresh(&mut api);
    // `init` restores the terminal on panic as well as through `restore` below.
    let mut terminal = ratatui::init();
    let result = (|| {
        let mut next_refresh = Instant::now() + REFRESH;
        while !app.quit {
            terminal.draw(|frame| render(&app, frame))?;
            let wait = next_refresh.saturating_duration_since(Instant::now());
            if event::poll(wait)? {
                if let Event::Key(key) = event::read()? {
                    app.key(key, &mut api);
                }
            }
            if Instant::now() >= next_refresh {
                app.refresh(&mut api);
                next_refresh = Instant::now() + REFRESH;
            }
        }
        Ok(())
    })();
    ratatui::restore();
    result
}
